"""Problems found in a rank table (:class:`Diagnostic` with the JSON path), and their order.

``srv(i)`` and ``dev(i, j)`` give a :class:`JsonPath`: the path text as every message and
``--json`` shows it, carrying its indices and field; ``error``/``warning`` put them into
``Where`` (``server_index``, ``device_index``, ``field``), so nobody parses the text back.
"""

from __future__ import annotations

import re
from typing import Any

from ClusterShell.RangeSet import RangeSet

from console.core.diagnostic import Diagnostic, Where

_SEGMENT = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


class JsonPath(str):
    """``server_list[1].device[3].device_ip`` as text, with ``server``, ``device`` (list
    indices) and ``field`` as values. Make them with :func:`srv` and :func:`dev`."""

    server: int | None = None
    device: int | None = None
    field: str | None = None

    @classmethod
    def of(cls, text: str, server: int, device: int | None, field: str | None) -> JsonPath:
        path = cls(text)
        path.server, path.device, path.field = server, device, field
        return path


def where(path: str) -> Where:
    """The ``Where`` of a problem at ``path`` (with its indices when it is a ``JsonPath``)."""
    if isinstance(path, JsonPath):
        return Where(path=str(path), server_index=path.server, device_index=path.device, field=path.field)
    return Where(path=path)


def error(path: str, rule: str, message: str) -> Diagnostic:
    return Diagnostic(severity="error", code=rule, message=message, where=where(path))


def warning(path: str, rule: str, message: str) -> Diagnostic:
    return Diagnostic(severity="warning", code=rule, message=message, where=where(path))


def describe(p: Diagnostic) -> str:
    """``server_list[0].device[1].rank_id: error: MESSAGE``, as ``ranktable validate`` prints it."""
    return f"{p.where.path or ''}: {p.severity}: {p.message}"


def problem_json(p: Diagnostic) -> dict[str, Any]:
    """``{"severity", "path", "message", "rule", "server_index", "device_index", "field"}``: a
    problem in ``ranktable validate --json`` (the indices and field of ``path`` inside
    server_list, else null)."""
    w = p.where
    return {
        "severity": p.severity,
        "path": w.path or "",
        "message": p.message,
        "rule": p.code,
        "server_index": w.server_index,
        "device_index": w.device_index,
        "field": w.field,
    }


def path_key(path: str) -> tuple[tuple[int, str, int], ...]:
    """Sort key: list indexes compare as numbers (device[10] after device[2])."""
    return tuple((0, "", int(idx)) if idx else (1, name, 0) for idx, name in _SEGMENT.findall(path))


def sort_problems(problems: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(problems, key=lambda p: (path_key(p.where.path or ""), p.severity != "error", p.code, p.message))


def srv(i: int, field: str | None = None) -> JsonPath:
    return JsonPath.of(f"server_list[{i}]" + (f".{field}" if field else ""), i, None, field)


def dev(i: int, j: int, field: str | None = None) -> JsonPath:
    return JsonPath.of(f"server_list[{i}].device[{j}]" + (f".{field}" if field else ""), i, j, field)


def ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7' (ClusterShell RangeSet's folding, spaced for prose)."""
    return ", ".join(str(part) for part in RangeSet(numbers).contiguous()) if numbers else ""

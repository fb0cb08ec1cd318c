"""Problems found in a rank table (:class:`Diagnostic` with the JSON path), and their order."""

from __future__ import annotations

import re
from typing import Any

from ClusterShell.RangeSet import RangeSet

from console.core.diagnostic import Diagnostic, diagnostic

_SEGMENT = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def error(path: str, rule: str, message: str) -> Diagnostic:
    return diagnostic("error", rule, message, path=path)


def warning(path: str, rule: str, message: str) -> Diagnostic:
    return diagnostic("warning", rule, message, path=path)


def describe(p: Diagnostic) -> str:
    """``server_list[0].device[1].rank_id: error: MESSAGE``, as ``ranktable validate`` prints it."""
    return f"{p.where.path or ''}: {p.severity}: {p.message}"


def problem_json(p: Diagnostic) -> dict[str, Any]:
    """``{"severity", "path", "message", "rule"}``: a problem in ``ranktable validate --json``."""
    return {"severity": p.severity, "path": p.where.path or "", "message": p.message, "rule": p.code}


def path_key(path: str) -> tuple[tuple[int, str, int], ...]:
    """Sort key: list indexes compare as numbers (device[10] after device[2])."""
    return tuple((0, "", int(idx)) if idx else (1, name, 0) for idx, name in _SEGMENT.findall(path))


def sort_problems(problems: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(problems, key=lambda p: (path_key(p.where.path or ""), p.severity != "error", p.code, p.message))


def srv(i: int, field: str | None = None) -> str:
    return f"server_list[{i}]" + (f".{field}" if field else "")


def dev(i: int, j: int, field: str | None = None) -> str:
    return f"server_list[{i}].device[{j}]" + (f".{field}" if field else "")


def ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7' (ClusterShell RangeSet's folding, spaced for prose)."""
    return ", ".join(str(part) for part in RangeSet(numbers).contiguous()) if numbers else ""

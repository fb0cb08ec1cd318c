"""A problem found in a rank table: severity, JSON path, message, rule id."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

_SEGMENT = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


class Problem(BaseModel):
    severity: Literal["error", "warning"]
    path: str = Field(description='JSON path, e.g. "server_list[1].device[3].device_ip"')
    message: str
    rule: str = Field(description="Stable rule id, e.g. rank_id_interleaved")

    def __str__(self) -> str:
        return f"{self.path}: {self.severity}: {self.message}"


def error(path: str, rule: str, message: str) -> Problem:
    return Problem(severity="error", path=path, message=message, rule=rule)


def warning(path: str, rule: str, message: str) -> Problem:
    return Problem(severity="warning", path=path, message=message, rule=rule)


def path_key(path: str) -> tuple[tuple[int, str, int], ...]:
    """Sort key: list indexes compare as numbers (device[10] after device[2])."""
    return tuple((0, "", int(idx)) if idx else (1, name, 0) for idx, name in _SEGMENT.findall(path))


def sort_problems(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (path_key(p.path), p.severity != "error", p.rule, p.message))


def srv(i: int, field: str | None = None) -> str:
    return f"server_list[{i}]" + (f".{field}" if field else "")


def dev(i: int, j: int, field: str | None = None) -> str:
    return f"server_list[{i}].device[{j}]" + (f".{field}" if field else "")


def ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    out: list[str] = []
    for n in sorted(numbers):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)

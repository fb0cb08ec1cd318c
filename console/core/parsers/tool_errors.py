"""The error messages hccn_tool prints, as a typed ``ToolError``.

Each message appears alone in real runs, sometimes followed by a generic companion line
(``Command execute failed!`` after ``Execute failed: Link status is down.``, the help hint
after ``Get invalid device id.``). A group of such lines is one error whose kind is the most
specific line's kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

from .common import Unparsed, guarded, lines_of, nonblank

T = TypeVar("T")

ToolErrorKind = Literal[
    "busy",
    "no_ip",
    "no_device",
    "failed",
    "invalid_device",
    "invalid_cmd",
    "link_down",
    "no_gateway",
    "no_optical",
    "not_supported",
    "occupied",
    "ip_conflict",
    "config_not_saved",
    "usage",
]

# (kind, pattern). Matched case-insensitively against a whole stripped line.
_RAW_PATTERNS: list[tuple[ToolErrorKind, str]] = [
    ("busy", r"hccn_tool is busy,? please try again\.?"),
    ("no_ip", r"Get ipconf failed, because no ip was preset there!?"),
    ("no_device", r"The device is not exist!?"),
    ("invalid_device", r"Get invalid device id\.?"),
    ("invalid_cmd", r"Get invalid major cmd\.?"),
    ("link_down", r"Execute failed: Link status is down\.?"),
    ("no_gateway", r"Get gateway failed\b.*"),
    ("no_optical", r"Optical module is not present\.?"),
    ("not_supported", r"The command is not supported on this product\.?"),
    ("occupied", r"The device is occupied\.? Please try again later\.?"),
    ("ip_conflict", r"The ip address configured is conflicted!?"),
    ("config_not_saved", r"Write configurations to config file failed\b.*"),
    ("failed", r"Command execute failed!?"),
    ("usage", r"Enter \[ ?hccn_tool -h ?\] for more details\.?"),
]
_PATTERNS: list[tuple[ToolErrorKind, re.Pattern[str]]] = [
    (kind, re.compile(rx, re.IGNORECASE)) for kind, rx in _RAW_PATTERNS
]

# Companion lines: they describe the error printed just before them, if any.
_GENERIC: frozenset[str] = frozenset({"failed", "usage"})


class ToolError(BaseModel):
    """hccn_tool refused or failed; ``kind`` is stable, ``message`` is the tool's own words."""

    kind: ToolErrorKind
    message: str = Field(description="The most specific error line, verbatim")
    raw: str = Field(description="The whole output, verbatim")
    lines: list[str] = Field(default_factory=list, description="Every error line of the group")

    @property
    def retryable(self) -> bool:
        """Busy / occupied: the same command may succeed a moment later."""
        return self.kind in ("busy", "occupied")


def error_kind(line: str) -> ToolErrorKind | None:
    """The kind of one output line, or None when it is not a known hccn_tool error."""
    stripped = line.strip()
    for kind, pattern in _PATTERNS:
        if pattern.fullmatch(stripped):
            return kind
    return None


def _most_specific(kinds: list[ToolErrorKind]) -> int:
    for i, kind in enumerate(kinds):
        if kind not in _GENERIC:
            return i
    return 0


def make_tool_error(error_lines: list[str], raw: str) -> ToolError:
    """One ``ToolError`` from a group of error lines (all must be known error lines)."""
    kinds = [error_kind(line) or "failed" for line in error_lines]
    best = _most_specific(kinds)
    return ToolError(
        kind=kinds[best], message=error_lines[best].strip(), raw=raw, lines=[line.strip() for line in error_lines]
    )


def group_error_lines(lines: list[str]) -> list[list[str]]:
    """Split consecutive error lines into groups: a specific line opens a group, generic
    companion lines join the group before them."""
    groups: list[list[str]] = []
    for line in lines:
        kind = error_kind(line)
        if kind in _GENERIC and groups and error_kind(groups[-1][-1]) is not None:
            groups[-1].append(line)
        else:
            groups.append([line])
    return groups


@guarded(none_if_not_text=True)
def parse_tool_error(text: str) -> ToolError | None:
    """A ``ToolError`` when every non-blank line of ``text`` is a known hccn_tool error line
    (the whole output is an error); None otherwise (including empty text)."""
    lines = [line for line in lines_of(text) if line.strip()]
    if not lines or any(error_kind(line) is None for line in lines):
        return None
    return make_tool_error(lines, text)


@guarded(none_if_not_text=True)
def find_tool_error(text: str) -> ToolError | None:
    """A ``ToolError`` for the first known error line anywhere in ``text`` (for outputs that
    mix data and errors); None when there is none."""
    lines = [line for line in lines_of(text) if line.strip()]
    for i, line in enumerate(lines):
        if error_kind(line) is not None:
            group = group_error_lines(lines[i:])[0]
            group = [g for g in group if error_kind(g) is not None]
            return make_tool_error(group, text)
    return None


def answer_or_error(text: str, what: str, build: Callable[[list[str]], T | None]) -> T | ToolError | Unparsed:
    """The skeleton every single-answer parser shares.

    ``build`` gets the stripped non-blank lines and returns the model or None. Order: empty
    output -> ``Unparsed``; output made only of tool error lines -> ``ToolError``; the model
    when ``build`` recognises it; else the first tool error line found; else ``Unparsed``
    naming ``what`` was expected.
    """
    if not text.strip():
        return Unparsed(raw=text, reason="empty output")
    whole = parse_tool_error(text)
    if isinstance(whole, ToolError):
        return whole
    model = build(nonblank(text))
    if model is not None:
        return model
    return find_tool_error(text) or Unparsed(raw=text, reason=f"no {what} found")

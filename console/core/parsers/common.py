"""Shared pieces of the tool-output parsers: the ``Unparsed`` result, the never-raise guard,
and small tolerant converters.

Contract of every public parser: it takes the text a tool printed and returns its model, a
``ToolError`` when the text is one of the tool's error messages, or ``Unparsed`` when the
output is not understood. It never raises, whatever the input (see ``guarded``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

INTERNAL_ERROR_PREFIX = "internal parser error"

F = TypeVar("F", bound=Callable[..., Any])


class Unparsed(BaseModel):
    """Output a parser did not understand, kept verbatim with the reason."""

    kind: Literal["unparsed"] = "unparsed"
    raw: str = Field(description="The text exactly as received")
    reason: str = Field(description="Why it was not understood, in one line")


def _as_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return None


def guarded(*, many: bool = False, none_if_not_text: bool = False) -> Callable[[F], F]:
    """Make a parser total: non-text input and any internal bug become ``Unparsed``.

    ``many`` parsers return a list, so their fallback is a one-element list.
    ``none_if_not_text``: non-text input gives None (for "is this an error?" helpers).
    The fuzz tests assert the fallback with ``INTERNAL_ERROR_PREFIX`` is never reached on
    their inputs, so this guard is a safety net, not a way to hide bugs.
    """

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def parse(text: object, *args: Any, **kwargs: Any) -> Any:
            raw = _as_text(text)
            if raw is None:
                if none_if_not_text:
                    return None
                bad = Unparsed(raw=repr(text)[:200], reason=f"not text: {type(text).__name__}")
                return [bad] if many else bad
            try:
                return func(raw, *args, **kwargs)
            except Exception as exc:
                bad = Unparsed(raw=raw, reason=f"{INTERNAL_ERROR_PREFIX}: {type(exc).__name__}: {exc}")
                return [bad] if many else bad

        return parse  # type: ignore[return-value]  # same signature as the wrapped parser

    return wrap


def lines_of(text: str) -> list[str]:
    """Lines without line ends or trailing blanks (``\\r`` from Windows pastes included)."""
    return [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]


def nonblank(text: str) -> list[str]:
    return [line.strip() for line in lines_of(text) if line.strip()]


def to_int(value: str | None) -> int | None:
    """``int`` of an ASCII decimal, else None (never raises; ``-`` and ``NA`` give None)."""
    if value is None:
        return None
    value = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,18}", value):
        return None
    return int(value)


def to_float(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if not re.fullmatch(r"[+-]?(?:[0-9]{1,18}(?:\.[0-9]{0,18})?|\.[0-9]{1,18})", value):
        return None
    return float(value)


def seq_number(token: str | None) -> int | None:
    """A probe sequence number, tolerating the guide's ``seq=O`` (letter O for zero)."""
    if token is None:
        return None
    token = token.strip().rstrip(",.;")
    if token and set(token) <= set("0123456789oO"):
        return to_int(token.replace("o", "0").replace("O", "0"))
    return None

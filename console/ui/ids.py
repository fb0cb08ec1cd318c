"""The one place where host names and IP addresses become widget ids (design.md §7).

Textual ids may only contain letters, digits, ``_`` and ``-`` and must not start with a
digit, so ``10.0.0.1`` or ``fe80::1`` cannot be used as they are. Every character outside
``[A-Za-z0-9-]`` (``_`` included) is written as ``_`` + two hex digits (``__`` + six beyond Latin-1), which keeps the
mapping one-to-one: two different hosts never share an id, and :func:`unsafe` gives the
name back.
"""

from __future__ import annotations

import re

_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
_KEEP = re.compile(r"[A-Za-z0-9-]")
_ESCAPE = re.compile(r"__([0-9a-f]{6})|_([0-9a-f]{2})")


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"_{code:02x}" if code < 0x100 else f"__{code:06x}"


def safe_id(prefix: str, name: str) -> str:
    """``safe_id("server", "10.0.0.1")`` -> ``"server-10_2e0_2e0_2e1"``."""
    if not _PREFIX.match(prefix):
        raise ValueError(f"widget id prefix {prefix!r} must be letters, digits and '-'")
    body = "".join(ch if _KEEP.match(ch) else _escape(ch) for ch in name)
    return f"{prefix}-{body}"


def unsafe(widget_id: str) -> str:
    """The name a :func:`safe_id` was made from (without its prefix)."""
    _, _, body = widget_id.partition("-")
    return _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), body)

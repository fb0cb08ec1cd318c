"""Counts in words, for people: "1 error", "2 errors", "0 warnings"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None, *, fmt: str = "") -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1 (``plural`` for a noun that does not
    take an "s"); ``fmt`` formats the number (``","``: ``32,256 probes``)."""
    word = noun if n == 1 else (plural if plural is not None else f"{noun}s")
    return f"{n:{fmt}} {word}"

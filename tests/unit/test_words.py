"""Counts in words (``console.core.words.counted``): singular for exactly one, else plural."""

from __future__ import annotations

from console.core.words import counted


def test_one_is_singular_everything_else_plural() -> None:
    assert [counted(n, "error") for n in (0, 1, 2)] == ["0 errors", "1 error", "2 errors"]
    assert counted(1, "more server pair") == "1 more server pair"
    assert counted(3, "process", "processes") == "3 processes"
    assert counted(32256, "probe", fmt=",") == "32,256 probes"
    assert counted(1, "probe", fmt=",") == "1 probe"

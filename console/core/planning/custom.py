"""The custom ping pair file: one probe per line, source first.

    # comments start with '#', blank lines are ignored
    127.0.0.11:3 127.0.0.12:5        HOST:DEV HOST:DEV
    node-a 3 node-b 5                HOST DEV HOST DEV
    [fd00::1]:3 [fd00::2]:5          IPv6 hosts in brackets

Bad lines raise ``InputError`` naming the file and the line number.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import InputError

SYNTAX = "expected `HOST:DEV HOST:DEV` or `HOST DEV HOST DEV`"


class PairLine(NamedTuple):
    """One end of a pair as written in the file."""

    host: str
    device: int
    line: int


def _device(token: str, line: int, path: str | None) -> int:
    if not token.isascii() or not token.isdigit():
        raise InputError(
            f"line {line}: device {token!r} is not a device number",
            "device ids are whole numbers like 0..15",
            path=path,
        )
    return int(token)


def _split_end(token: str, line: int, path: str | None) -> tuple[str, str]:
    if token.startswith("[") and "]:" in token:
        host, _, dev = token[1:].partition("]:")
    else:
        host, sep, dev = token.rpartition(":")
        if not sep:
            raise InputError(f"line {line}: {SYNTAX}", f"no `:DEV` in {token!r}", path=path)
    if not host:
        raise InputError(f"line {line}: {SYNTAX}", f"no host in {token!r}", path=path)
    return host, dev


def _parse_line(text: str, line: int, path: str | None) -> tuple[PairLine, PairLine]:
    tokens = text.split()
    if len(tokens) == 2:
        (h1, d1), (h2, d2) = (_split_end(t, line, path) for t in tokens)
    elif len(tokens) == 4:
        h1, d1, h2, d2 = tokens
    else:
        raise InputError(f"line {line}: {SYNTAX}", f"got {text!r}", path=path)
    return (PairLine(h1, _device(d1, line, path), line), PairLine(h2, _device(d2, line, path), line))


def parse_custom_pairs(text: str, path: str | None = None) -> list[tuple[PairLine, PairLine]]:
    """``(source, destination)`` per non-blank, non-comment line, in file order."""
    pairs = []
    for number, raw in enumerate(text.splitlines(), start=1):
        content = raw.split("#", 1)[0].strip()
        if content:
            pairs.append(_parse_line(content, number, path))
    if not pairs:
        raise InputError("no pairs in the custom ping file", SYNTAX, path=path)
    return pairs

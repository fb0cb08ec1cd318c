"""Split concatenated command outputs (a shell loop over devices) into per-run blocks."""

from __future__ import annotations

from collections.abc import Callable

LinePredicate = Callable[[str], bool]


def _never(_line: str) -> bool:
    return False


def split_blocks(
    text: str,
    is_header: LinePredicate,
    is_summary: LinePredicate,
    is_trailer: LinePredicate = _never,
) -> list[str]:
    """Cut ``text`` into blocks, each returned verbatim (its own lines, trailing blanks dropped).

    A block starts at a header line (``device N PING ip``), or at the first non-blank line
    after a block's summary line that is not one of the summary's trailer lines (hccs_ping
    prints max/min/average/TP95 after its summary). So headerless pastes (the MindIE guide's)
    and error-only runs inside a loop each get their own block. Predicates see stripped lines.
    """
    blocks: list[list[str]] = []
    current: list[str] = []
    closed = False
    for raw_line in text.split("\n"):
        line = raw_line.strip()
        if not line:
            if current:
                current.append(raw_line)
            continue
        starts = is_header(line) or (closed and not is_trailer(line))
        if starts and current:
            blocks.append(current)
            current = []
        if starts:
            closed = False
        current.append(raw_line)
        if is_summary(line):
            closed = True
    if current:
        blocks.append(current)
    return ["\n".join(_trim(block)) for block in blocks]


def _trim(block: list[str]) -> list[str]:
    end = len(block)
    while end > 0 and not block[end - 1].strip():
        end -= 1
    return block[:end]

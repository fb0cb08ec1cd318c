"""console.core.lines: lines out of chunks, never more than the limit held."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from console.core.lines import LineCutter, cut_marker


def cut(chunks, limit):
    c = LineCutter(limit)
    out = [line for chunk in chunks for line in c.feed(chunk)]
    return out + c.end()


def test_short_lines_come_back_whole_across_chunks() -> None:
    assert cut(["ab", "c\nde", "\n", "f"], 10) == ["abc", "de", "f"]
    assert cut([b"x\n", b"\n"], 10) == [b"x", b""]
    assert cut(["a\n"], 10) == ["a"] and cut([""], 10) == []


def test_long_line_keeps_its_head_and_counts_the_rest() -> None:
    assert cut(["x" * 7, "y" * 5 + "\nnext"], 4) == ["xxxx" + cut_marker(8), "next"]
    assert cut([b"z" * 10], 3) == [b"zzz" + cut_marker(7).encode()]


def test_never_holds_more_than_the_limit() -> None:
    c: LineCutter[str] = LineCutter(1000)
    for _ in range(2000):  # 200 MB would take too long; 2000 x 64 KiB without a newline
        assert c.feed("x" * 65536) == []
        assert len(c._head or "") <= 1000
    (line,) = c.end()
    assert line == "x" * 1000 + cut_marker(2000 * 65536 - 1000)


@given(st.lists(st.text(alphabet="ab\n", max_size=30), max_size=10), st.integers(1, 8))
def test_same_lines_as_splitlines_when_short_enough(chunks, limit) -> None:
    text = "".join(chunks)
    want = text.split("\n")
    if want and want[-1] == "":
        want.pop()
    got = cut(chunks, limit)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == (w if len(w) <= limit else w[:limit] + cut_marker(len(w) - limit))

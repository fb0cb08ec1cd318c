"""Agent frames: a number field must be a finite JSON number (``json.loads`` takes NaN,
Infinity and -Infinity, which a hostile agent could send as a timestamp)."""

from __future__ import annotations

import pytest

from console.ops.agentframes import check_frame


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused(bad: str) -> None:
    frame, problem = check_frame('{"t": "started", "rank": 0, "ts": ' + bad + "}", {0})
    assert frame == {} and problem == "started frame with a bad 'ts'"


def test_finite_numbers_pass() -> None:
    frame, problem = check_frame('{"t": "started", "rank": 0, "ts": 1.5, "pid": 7}', {0})
    assert problem is None and frame["ts"] == 1.5

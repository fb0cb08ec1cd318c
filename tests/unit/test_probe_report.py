"""Probe JSON lines -> report: real captured output (tests/data/probe_gloo_*), noise, verdicts."""

from __future__ import annotations

import json

import pytest

from console.core.probe_report import (
    COLUMNS,
    SLOW_MIN_EXTRA_US,
    SLOW_RATIO,
    ProbeReport,
    format_size,
    parse_line,
    parse_lines,
    parse_streams,
)

OPS = ["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast"]
# nccl-tests' bus factors, written out independently of the probe's own table
FACTOR = {"all_reduce": 2 * 3 / 4, "all_gather": 3 / 4, "reduce_scatter": 3 / 4, "all_to_all": 3 / 4, "broadcast": 1.0}


def _streams(folder) -> dict[int, list[str]]:
    return {int(p.stem.split("-")[1]): p.read_text().splitlines() for p in sorted(folder.glob("rank-*.jsonl"))}


@pytest.fixture
def good(data_dir) -> ProbeReport:
    """4 gloo ranks, --mode all --sizes 1K,64K (captured from a real run)."""
    return parse_streams(_streams(data_dir / "probe_gloo_4ranks"))


def test_real_run_parses_to_a_passing_report(good):
    assert not good.failed and good.errors == [] and good.malformed == []
    assert good.world_size == 4 and sorted(good.ranks) == [0, 1, 2, 3]
    assert good.unfinished_ranks == [] and good.missing_ranks == []
    assert len(good.checks) == 20 and {c.rank for c in good.checks} == {0, 1, 2, 3}
    assert [row["ok"] for row in good.check_rows()] == [True] * 5
    assert good.ops == OPS
    assert good.tp_smoke is not None and good.tp_smoke.ok and len(good.tp_smoke.tokens) == 8
    assert good.summary() == [line for line in good.summary() if line.startswith("tp smoke ok")]


def test_table_has_every_op_and_size_with_nccl_tests_columns(good):
    rows = good.rows()
    assert [(r["op"], r["size"]) for r in rows] == [(op, s) for op in OPS for s in ("1K", "64K")]
    keys = [k for k, _, _ in COLUMNS]
    assert all(set(keys) <= set(r) for r in rows)
    for r in good.results:
        assert r.count * 4 == r.size  # float32
        assert r.time_us == pytest.approx(sum(r.per_rank_us) / 4, rel=1e-3)
        assert r.algbw == pytest.approx(r.size / r.time_us / 1e3, rel=1e-2, abs=2e-4)
        assert r.busbw == pytest.approx(r.algbw * FACTOR[r.op], rel=1e-2, abs=2e-4)


def test_slowest_rank_and_ratio_to_median():
    rec = {
        "probe": "result",
        "rank": 0,
        "op": "all_reduce",
        "size": 1048576,
        "count": 262144,
        "type": "float32",
        "time_us": 17.5,
        "algbw": 59.9,
        "busbw": 89.9,
        "per_rank_us": [10.0, 10.0, 10.0, 40.0, 10.0],
    }
    report = parse_lines([json.dumps(rec)])
    (row,) = report.rows()
    assert (row["size"], row["slowest_rank"], row["slowest_us"]) == ("1M", "3", "40.0")
    assert row["vs_median"] == "x4.00" and row["slow"] is True
    rec["per_rank_us"] = [10.0, 11.0, 10.5]
    (row,) = parse_lines([json.dumps(rec)]).rows()
    assert row["slowest_rank"] == "1" and row["slow"] is False


def _result(op: str, times: list[float]) -> str:
    return json.dumps(
        {
            "probe": "result",
            "rank": 0,
            "op": op,
            "size": 1024,
            "count": 256,
            "type": "float32",
            "time_us": sum(times) / len(times),
            "algbw": 1.0,
            "busbw": 1.0,
            "per_rank_us": times,
        }
    )


@pytest.mark.parametrize(
    "times, slow",
    [
        ([100.0, 101.0, 105.0, 100.5], False),  # x1.04 the median: timer noise
        ([100.0, 100.0, 140.0, 100.0], False),  # x1.4: below SLOW_RATIO
        ([100.0, 100.0, 150.0, 100.0], True),  # x1.5 and 50 us more
        ([2.0, 2.0, 6.0, 2.0], False),  # x3, but only 4 us more: too small to tell
        ([2.0, 2.0, 7.5, 2.0], True),  # x3.75 and 5.5 us more
    ],
)
def test_only_a_clearly_slower_rank_is_flagged(times, slow):
    assert (SLOW_RATIO, SLOW_MIN_EXTRA_US) == (1.5, 5.0)
    report = parse_lines([_result("all_reduce", times)])
    (row,) = report.rows()
    assert row["slow"] is slow and row["slowest_rank"] == "2"  # the column still names it
    assert [s["rank"] for s in report.slow_ranks()] == ([2] if slow else [])


def test_slow_ranks_count_rows_and_worst_ratio():
    report = parse_lines(
        [
            _result("all_reduce", [10.0, 40.0, 10.0]),
            _result("all_gather", [10.0, 30.0, 10.0]),
            _result("broadcast", [10.0, 10.2, 10.0]),
            _result("all_to_all", [10.0, 10.0, 100.0]),
        ]
    )
    assert report.slow_ranks() == [
        {"rank": 1, "rows": 2, "worst_vs_median": 4.0, "worst_extra_us": 30.0},
        {"rank": 2, "rows": 1, "worst_vs_median": 10.0, "worst_extra_us": 90.0},
    ]


def test_noise_prefixes_and_broken_lines_are_tolerated():
    lines = [
        "[W1127 socket.cpp:469] [c10d] waitForInput: poll returned 0",
        '[rank 2] {"probe": "check", "op": "all_reduce", "ok": true}',
        '2025-11-27 18:00:00 {"probe": "done", "rank": 2, "ok": true}',
        '{"probe": "check", "op": "all_gather", "ok": tr',  # cut off
        '{"not_probe": 1}',
        "[1, 2, 3]",
        '{"probe": "from_the_future", "rank": 1}',
        "",
    ]
    report = parse_lines(lines, rank=2)
    assert [(c.rank, c.op) for c in report.checks] == [(2, "all_reduce")]
    # the unknown kind is a probe record (a newer probe): skipped, but not noise
    assert report.ranks[2].done and report.noise_lines == 5 and not report.failed


def test_record_that_does_not_fit_its_schema_is_reported_not_raised():
    report = parse_lines(['{"probe": "result", "rank": 0, "size": "big"}'])
    assert report.results == [] and len(report.malformed) == 1
    assert report.malformed[0].startswith("rank 0: result record: ")


def test_failed_check_fails_the_report_and_names_rank_and_op():
    ok = {"probe": "check", "op": "all_to_all", "ok": True}
    bad = {**ok, "ok": False, "mismatches": 3, "first_bad": {"index": 5, "got": 2, "want": 1}}
    report = parse_streams({0: [json.dumps(ok)], 1: [json.dumps(bad)]})
    assert report.failed and [c.rank for c in report.failed_checks] == [1]
    assert report.check_rows() == [{"op": "all_to_all", "ranks_ok": "1/2", "failed_ranks": "1", "ok": False}]
    assert any("all_to_all on rank 1" in line and "3 wrong values" in line for line in report.summary())


def test_missing_rank_capture_folds_the_same_error_from_every_rank(data_dir):
    report = parse_streams(_streams(data_dir / "probe_gloo_missing_rank3"))
    assert report.failed and report.missing_ranks == [3]
    assert report.results == [] and report.world_size == 4
    (line,) = report.summary()
    assert line.startswith("error on ranks 0, 1, 2: rendezvous: rank 3 never joined")


def test_tp_smoke_disagreement_fails():
    rec = {
        "probe": "tp_smoke",
        "rank": 0,
        "ok": False,
        "tokens": [1, 2],
        "ranks_agree": False,
        "disagreeing_ranks": [3],
        "max_abs_diff": 0.5,
        "tolerance": 0.001,
        "tokens_per_s": 12.0,
    }
    report = parse_lines([json.dumps(rec)])
    assert report.failed
    assert report.summary() == [
        "tp smoke FAILED: 2 tokens, 12.0 tokens/s, max |logit diff| "
        "5.00e-01 (tolerance 0.001), ranks [3] decoded different tokens"
    ]


def test_rank_that_ends_badly_without_an_error_record_fails():
    report = parse_lines(
        ['{"probe": "start", "rank": 0, "world_size": 2}', '{"probe": "done", "rank": 0, "ok": false}']
    )
    assert report.failed and report.unfinished_ranks == [1]


def test_repeated_result_replaces_the_earlier_row():
    rec = {
        "probe": "result",
        "op": "broadcast",
        "size": 1024,
        "count": 256,
        "type": "float32",
        "time_us": 5.0,
        "algbw": 0.2,
        "busbw": 0.2,
    }
    report = parse_lines([json.dumps(rec), json.dumps({**rec, "time_us": 9.0})])
    assert [r.time_us for r in report.results] == [9.0]


@pytest.mark.parametrize(
    "n, text", [(1024, "1K"), (65536, "64K"), (1 << 20, "1M"), (3 << 30, "3G"), (1000, "1000"), (1536, "1536")]
)
def test_format_size(n, text):
    assert format_size(n) == text


def test_parse_line_only_accepts_objects_with_a_probe_key():
    assert parse_line('x {"probe": "done"}') == {"probe": "done"}
    assert parse_line('{"probe": 3}') is None and parse_line("no json") is None

"""`cluster-console probe` text output: only clearly slow ranks are called slow, with the rule."""

from __future__ import annotations

import json

from console.cli.probe import print_report, to_json
from console.core.probe_report import SLOW_LEGEND, parse_lines
from console.ops.launch_events import JobSummary
from console.ops.probe import ProbeFinished, ProbeOptions, plan_probe
from console.ops.ranktable_files import load


def _finished(data_dir, rows: dict[str, list[float]]) -> ProbeFinished:
    _, _, plan = plan_probe(load(data_dir / "ranktable_seed_2x4.json"), ProbeOptions(), run_id="t")
    lines = [
        json.dumps(
            {
                "probe": "result",
                "rank": 0,
                "op": op,
                "size": 1024,
                "count": 256,
                "type": "float32",
                "time_us": sum(t) / len(t),
                "algbw": 1.0,
                "busbw": 1.0,
                "per_rank_us": t,
            }
        )
        for op, t in rows.items()
    ]
    summary = JobSummary(ok=True, world_size=plan.world_size, exit_codes={}, run_dir="runs/t")
    return ProbeFinished(parse_lines(lines), summary, plan)


def test_noise_is_not_called_slow(capsys, data_dir):
    noise = [100.0] * 7 + [105.0]  # rank 7 at x1.05 the median
    print_report(_finished(data_dir, {"all_reduce": noise, "all_gather": noise}))
    out = " ".join(capsys.readouterr().out.split())
    assert "slow:" not in out and "slowest:" not in out and "no slow rank" in out
    assert SLOW_LEGEND in out


def test_a_clearly_slow_rank_is_named_with_its_server(capsys, data_dir):
    finished = _finished(
        data_dir, {"all_reduce": [100.0] * 5 + [400.0] + [100.0] * 2, "all_gather": [100.0] * 7 + [104.0]}
    )
    print_report(finished)
    out = capsys.readouterr().out
    slow = [line for line in out.splitlines() if line.startswith("slow:")]
    assert slow == [f"{'slow:'} {finished.where(5)} in 1 of 2 rows, worst x4.00 the median (+300.0 us)"]
    assert to_json(finished)["slow_ranks"][0]["rank"] == 5

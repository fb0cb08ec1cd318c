"""The CLI's ``--json`` documents are an API: each one is pinned here, byte for byte.

Every document is produced by the real CLI (a subprocess against the simulated cluster where a
cluster is needed) and compared, as text, with ``tests/data/pinned/<name>.json``. Values that
change from run to run (timings, temporary folders, ports, run ids, pids, probe speeds) are
replaced by ``"<volatile>"`` before the comparison; their keys stay, so the shape is pinned too.
The raw stdout must also be exactly what ``json.dumps`` writes for the parsed document (indent,
key order, ``ensure_ascii=False``), so normalising hides nothing but those values.

A deliberate change to a document (adding a field) is recorded with
``PIN_UPDATE=1 python3 -m pytest tests/ops/test_json_pinned.py`` and reviewed in the diff.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from console.core.ranktable.text import dumps
from tests.ops.test_launch_sim import free_port, sim_table

PINNED = Path(__file__).parent.parent / "data" / "pinned"
DATA = Path(__file__).parent.parent / "data"
V = "<volatile>"


async def cli(*args: str, timeout: float = 240) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


def _normalise(obj: Any, volatile: frozenset[str], subs: dict[str, str]) -> Any:
    if isinstance(obj, dict):
        return {k: V if k in volatile else _normalise(v, volatile, subs) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_normalise(v, volatile, subs) for v in obj]
    if isinstance(obj, str):
        for old, new in subs.items():
            obj = obj.replace(old, new)
        return obj
    return obj


def check(
    name: str, stdout: str, *, lines: bool = False, volatile: tuple[str, ...] = (), subs: dict[str, str] | None = None
) -> None:
    """``stdout`` is canonical JSON (one document, or one per line) equal to the pinned file
    once ``volatile`` keys and ``subs`` strings are normalised."""
    if lines:
        docs = [json.loads(line) for line in stdout.splitlines()]
        assert "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs) == stdout
    else:
        docs = json.loads(stdout)
        assert json.dumps(docs, indent=2, ensure_ascii=False) + "\n" == stdout
    norm = _normalise(docs, frozenset(volatile), subs or {})
    text = (
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in norm)
        if lines
        else json.dumps(norm, indent=2, ensure_ascii=False) + "\n"
    )
    path = PINNED / f"{name}.json"
    if os.environ.get("PIN_UPDATE") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name}: --json output changed"


# ------------------------------------------------------------------ no cluster needed


async def test_ranktable_validate_json_with_problems() -> None:
    src = DATA / "ranktable_bad_interleaved.json"
    rc, out, _ = await cli("ranktable", "validate", str(src), "--json")
    assert rc == 1
    check("ranktable_validate", out, subs={str(src): "<file>"})


async def test_ranktable_validate_json_with_warnings_only() -> None:
    src = DATA / "ranktable_hccl_tools_1server.json"
    rc, out, _ = await cli("ranktable", "validate", str(src), "--json")
    assert rc == 0
    check("ranktable_validate_warnings", out, subs={str(src): "<file>"})


async def test_ranktable_validate_json_unreadable(tmp_path: Path) -> None:
    src = tmp_path / "bad.json"
    src.write_text('{"server_list": [\n  {"server_id": 1,}\n]}\n')
    rc, out, _ = await cli("ranktable", "validate", str(src), "--json")
    assert rc == 2
    check("ranktable_validate_unreadable", out, subs={str(src): "<file>"})


async def test_ranktable_show_json() -> None:
    src = DATA / "ranktable_a3_v1.2.json"
    rc, out, _ = await cli("ranktable", "show", str(src), "--json")
    assert rc == 0
    check("ranktable_show", out, subs={str(src): "<file>"})


async def test_layout_json_with_a_finding() -> None:
    rc, out, _ = await cli("layout", "--world-size", "16", "--per-server", "8", "--tp", "16", "--groups", "--json")
    assert rc == 0
    check("layout", out)


async def test_layout_json_from_a_ranktable() -> None:
    rc, out, _ = await cli(
        "layout", "--ranktable", str(DATA / "ranktable_seed_2x4.json"), "--tp", "2", "--pp", "2", "--json"
    )
    assert rc == 0
    check("layout_ranktable", out)


def test_probe_json_with_a_missing_rank(capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli.probe import output
    from console.core.probe_report import parse_streams
    from console.ops.launch_events import JobSummary
    from console.ops.probe import ProbeFinished, ProbeOptions, plan_probe
    from console.ops.ranktable_files import load

    src = DATA / "probe_gloo_missing_rank3"
    streams = {int(p.stem.split("-")[1]): p.read_text().splitlines() for p in src.glob("rank-*.jsonl")}
    _, _, plan = plan_probe(load(DATA / "ranktable_seed_2x4.json"), ProbeOptions(ranks_per_server=2), run_id="t")
    summary = JobSummary(ok=False, world_size=plan.world_size, exit_codes={0: 1, 1: 1, 2: 1}, run_dir="runs/t")
    code = output(ProbeFinished(parse_streams(streams), summary, plan), as_json=True)
    assert code == 1
    check("probe_missing_rank", capsys.readouterr().out)


def test_probe_json_all_ok(capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli.probe import output
    from console.core.probe_report import parse_streams
    from console.ops.launch_events import JobSummary
    from console.ops.probe import ProbeFinished, ProbeOptions, plan_probe
    from console.ops.ranktable_files import load

    src = DATA / "probe_gloo_4ranks"
    streams = {int(p.stem.split("-")[1]): p.read_text().splitlines() for p in src.glob("rank-*.jsonl")}
    _, _, plan = plan_probe(load(DATA / "ranktable_seed_2x4.json"), ProbeOptions(ranks_per_server=2), run_id="t")
    summary = JobSummary(ok=True, world_size=plan.world_size, exit_codes={r: 0 for r in range(4)}, run_dir="runs/t")
    code = output(ProbeFinished(parse_streams(streams), summary, plan), as_json=True)
    check("probe_ok", capsys.readouterr().out)
    assert code in (0, 1)


# ------------------------------------------------------------------ on the simulated cluster

FAULTY = [
    {"kind": "link_down", "server": 2, "device": 1},
    {"kind": "version", "server": 2, "driver": "24.1.rc9"},
    {"kind": "net_health", "server": 1, "device": 0},
    {
        "kind": "loss",
        "src": 1,
        "src_device": 1,
        "dst": 2,
        "dst_device": 0,
        "percent": 33.33,
        "times_ms": [0.05, 0.05, 0.05],
    },
    {"kind": "refuse", "server": 3},
]


async def test_discover_json_with_findings(sim_factory) -> None:
    sim = await sim_factory(servers=3, cards=2, faults=FAULTY)
    rc, out, err = await cli("-F", str(sim.ssh_config_path), "--connect-timeout", "5", "discover", *sim.hosts, "--json")
    assert rc == 3, err
    check("discover", out, subs={str(sim.port): "<port>"})


async def test_ping_json_with_loss(sim_factory) -> None:
    sim = await sim_factory(servers=3, cards=2, faults=FAULTY)
    rc, out, err = await cli("-F", str(sim.ssh_config_path), "--connect-timeout", "5", "ping", *sim.hosts, "--json")
    assert rc == 3, err
    doc = json.loads(out)
    doc["pairs"].sort(key=lambda p: (p["src_host"], p["src_device"], p["dst_host"], p["dst_device"]))
    check(
        "ping",
        json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
        volatile=("rtt", "raw", "rtt_ms", "time_ms", "elapsed", "seconds", "duration_s"),
        subs={str(sim.port): "<port>"},
    )
    assert json.dumps(json.loads(out), indent=2, ensure_ascii=False) + "\n" == out


async def test_launch_json_event_lines(sim_cluster, tmp_path: Path) -> None:
    rt = tmp_path / "rt.json"
    rt.write_text(dumps(sim_table(sim_cluster)))
    # every rank prints one line; rank 3 fails once all 16 have printed, so the order of
    # the teardown is fixed; lines are sorted below (ranks run concurrently)
    seen = tmp_path / "printed"
    seen.mkdir()
    script = (
        f'echo "r=$RANK"; touch {seen}/$RANK; [ "$RANK" != 3 ] && exit 0; '
        f"for i in $(seq 1200); do [ $(ls {seen} | wc -l) -ge 16 ] && exit 4; "
        "sleep 0.05; done; exit 5"
    )
    port = free_port()
    rc, out, err = await cli(
        "-F",
        str(sim_cluster.ssh_config_path),
        "launch",
        "--ranktable",
        str(rt),
        "--remote-ranktable",
        str(tmp_path / "remote" / "rt.json"),
        "--run-dir",
        str(tmp_path / "runs"),
        "--master-port",
        str(port),
        "--json",
        "--",
        "bash",
        "-c",
        script,
    )
    assert rc == 1, err
    events = [json.loads(line) for line in out.splitlines()]
    assert "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events) == out

    # concurrent ranks: keep each kind's first event in order, then the lines/starts/exits
    # sorted by rank (their interleaving is not part of the API)
    def key(e: dict[str, Any]) -> tuple[Any, ...]:
        return (e["event"], e.get("rank", -1), e.get("text", ""))

    stages = [e for e in events if e["event"] in ("stage", "warning", "teardown", "finished")]
    per_rank = sorted((e for e in events if e["event"] not in ("stage", "warning", "teardown", "finished")), key=key)
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in stages + per_rank)
    check(
        "launch_events",
        text,
        lines=True,
        volatile=(
            "time",
            "t",
            "pid",
            "pgid",
            "seconds",
            "duration_s",
            "started_at",
            "ended_at",
            "run_id",
            "elapsed",
            "ts",
            "start_skew_s",
            "teardown_s",
            "wake_skew_s",
            "go_late_s",
        ),
        subs={
            str(tmp_path): "<tmp>",
            str(port): "<port>",
            str(sim_cluster.port): "<simport>",
            **{m: "runs/<run>" for m in re.findall(r"runs/[0-9]{8}-[0-9]{6}-[0-9a-f]+", out)},
        },
    )


@pytest.mark.timeout(400)
async def test_demo_headless_json() -> None:
    rc, out, err = await cli("demo", "--headless", "--json", timeout=360)
    assert rc == 0, err
    doc = json.loads(out)
    subs = {doc["sim_dir"]: "<sim_dir>"}
    subs.update({m: "<run>" for m in set(re.findall(r"runs/[0-9A-Za-z_.-]+", out))})
    for pattern in (r"port \d+", r"[\d.]+ tokens/s", r"max logit error [\d.e+-]+"):
        subs.update({m: "<volatile>" for m in set(re.findall(pattern, out))})
    check(
        "demo_headless",
        out,
        volatile=(
            "seconds",
            "total_s",
            "time_us",
            "algbw",
            "busbw",
            "slowest_rank",
            "slowest_us",
            "vs_median",
            "slow",
            "tokens_per_s",
            "per_rank_tokens_per_s",
            "max_abs_diff",
            "slow_ranks",
            "slowest",
            "run_dir",
            "port",
            "master_port",
            "lines",
            "rtt",
            "raw",
            "sim_dir",
            "duration_s",
            "ts",
            "start_skew_s",
            "teardown_s",
            "wake_skew_s",
            "go_late_s",
        ),
        subs=subs,
    )

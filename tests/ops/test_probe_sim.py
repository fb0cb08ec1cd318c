"""The collective probe over the launch, on the simulated cluster: 2 servers x 2 cards, gloo.

The rank table comes from discovering the sim (as a user would build it). Probe files and
the servers' rank table go under tmp_path; sizes stay tiny (the machine's 2 cores are shared).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from console.cli.probe import output
from console.core.ranktable import build
from console.ops.discovery import discover_inventory
from console.ops.probe import ProbeOptions, run_probe, subset_table
from console.ops.ranktable_files import save
from console.remote import Pool
from tests.ops.procs import VENV_SETUP
from tests.ops.test_launch_sim import free_port, none_left, options, sim_table, spawned_pgids
from tests.ops.test_probe_local import OPS, _tp_module
from tests.system import need

SMALL = dict(sizes="1K,16K", iters=2, warmup=1, timeout_s=60)


def _need_torch() -> None:
    need(importlib.util.find_spec("torch") is not None, "torch is not installed (CI installs it)")


async def _table(sim):
    async with Pool(options(sim)) as pool:
        return build(await discover_inventory(pool, sim.hosts))


def _opts(tmp_path: Path, **kw) -> ProbeOptions:
    return ProbeOptions(
        master_port=free_port(),
        upload_base=str(tmp_path / "uploads"),
        remote_ranktable=str(tmp_path / "remote" / "rt.json"),
        setup=[VENV_SETUP],
        **kw,
    )


async def test_gloo_probe_on_two_servers_all_checks_and_tp_smoke(sim_factory, tmp_path, capsys) -> None:
    _need_torch()
    sim = await sim_factory(servers=2, cards=2)
    table = await _table(sim)
    async with Pool(options(sim)) as pool:
        done = await run_probe(
            table, _opts(tmp_path, backend="gloo", mode="all", tokens=4, **SMALL), pool=pool, run_base=tmp_path / "runs"
        )
    report = done.report
    assert done.ok and done.summary.exit_codes == {r: 0 for r in range(4)}, done.problems()
    assert {s.server_id: [k.rank for k in s.ranks] for s in done.plan.servers} == {
        sim.hosts[0]: [0, 1],
        sim.hosts[1]: [2, 3],
    }
    assert sorted(report.ranks) == [0, 1, 2, 3]
    assert all(st.done and st.ok and st.backend == "gloo" for st in report.ranks.values())
    assert [(row["op"], row["size"]) for row in report.rows()] == [(op, size) for op in OPS for size in ("1K", "16K")]
    assert all(len(r.per_rank_us) == 4 and r.backend == "gloo" for r in report.results)
    assert [row["op"] for row in report.check_rows()] == OPS
    assert all(row["ranks_ok"] == "4/4" for row in report.check_rows())
    smoke = report.tp_smoke
    assert smoke.ok and smoke.logits_match and smoke.ranks_agree and smoke.world_size == 4
    assert smoke.max_abs_diff <= smoke.tolerance and smoke.tokens_per_s > 0
    tp = _tp_module()  # independent: the single-process reference decodes the same tokens
    seq, _ = tp.reference(tp.Config(**smoke.model_extra["config"]))
    assert smoke.tokens == seq[-4:].tolist()
    assert await none_left(spawned_pgids(done.summary)) == []

    assert output(done) == 0  # the CLI's rendering of the same run
    out, err = capsys.readouterr()
    header = next(line for line in out.splitlines() if "busbw (GB/s)" in line)
    assert all(h in header for h in ("size", "count", "type", "time (us)", "algbw (GB/s)"))
    for op in OPS:
        assert (
            sum(line.split("│")[1].strip() == op for line in out.splitlines() if line.count("│") > 3) == 3
        )  # two sizes + its check row
    assert "tp smoke ok: 4 tokens" in out and "max logit error" in out
    assert "probe: ok: 20 checks passed on 4 ranks, 10 measurements" in err


def test_ranks_per_server_keeps_the_first_devices_and_renumbers() -> None:
    from console.core.ranktable import RankTable

    table = RankTable.model_validate(
        {
            "version": "1.0",
            "server_count": "2",
            "server_list": [
                {
                    "server_id": "10.0.0.1",
                    "device": [{"device_id": d, "device_ip": f"192.168.1.{d}", "rank_id": str(d)} for d in (2, 0, 1)],
                },
                {
                    "server_id": "10.0.0.2",
                    "device": [
                        {"device_id": d, "device_ip": f"192.168.2.{d}", "rank_id": str(3 + d)} for d in range(3)
                    ],
                },
            ],
        }
    )
    small = subset_table(table, 2)
    assert [(s.server_id, d.device_id, d.rank_id) for _, _, s, d in small.devices()] == [
        ("10.0.0.1", 0, 0),
        ("10.0.0.1", 1, 1),
        ("10.0.0.2", 0, 2),
        ("10.0.0.2", 1, 3),
    ]
    assert subset_table(table, None) is table and table.world_size == 6


async def _cli(sim, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    rt = tmp_path / "rt.json"
    save(await _table(sim), rt)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim.ssh_config_path),
        "probe",
        "--ranktable",
        str(rt),
        "--remote-ranktable",
        str(tmp_path / "remote" / "rt.json"),
        "--run-dir",
        str(tmp_path / "runs"),
        "--master-port",
        str(free_port()),
        "--upload-base",
        str(tmp_path / "uploads"),
        "--setup",
        VENV_SETUP,
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_cli_failed_check_exit_1_names_rank_op_and_server(sim_factory, tmp_path) -> None:
    _need_torch()
    sim = await sim_factory(servers=2, cards=2)
    rc, out, err = await _cli(
        sim,
        tmp_path,
        "--backend",
        "gloo",
        "--sizes",
        "1K",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--json",
        "--",
        "--corrupt",
        "2:all_gather",
    )
    assert rc == 1, err
    report = json.loads(out)
    assert report["ok"] is False and report["exit_code"] == 1 and report["world_size"] == 4
    bad = [row for row in report["checks"] if not row["ok"]]
    assert bad == [{"op": "all_gather", "ranks_ok": "3/4", "failed_ranks": "2", "ok": False}]
    assert f"probe: rank 2 on {sim.hosts[1]}: all_gather check failed: 1 wrong values" in err
    assert f"launch: root cause: rank 2 on {sim.hosts[1]}: exited with code 1" in err
    assert report["job"]["root_cause"]["rank"] == 2


async def test_cli_ranks_per_server_says_so(sim_factory, tmp_path) -> None:
    _need_torch()
    sim = await sim_factory(servers=2, cards=2)
    rc, out, err = await _cli(
        sim,
        tmp_path,
        "--backend",
        "gloo",
        "--sizes",
        "1K",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--json",
        "--ranks-per-server",
        "1",
    )
    assert rc == 0, err
    assert json.loads(out)["world_size"] == 2
    assert (
        "probe: note: --ranks-per-server 1: the first device (by rank) of each of the 2 "
        "servers: 2 of the table's 4 ranks, renumbered 0..1"
    ) in err


async def test_cli_hccl_without_torch_npu_names_the_host_exit_1(sim_factory, tmp_path) -> None:
    need(
        importlib.util.find_spec("torch_npu") is None,
        "torch_npu is installed here: the missing-torch_npu path cannot run",
    )
    _need_torch()
    sim = await sim_factory(servers=2, cards=2)
    rc, out, err = await _cli(sim, tmp_path, "--backend", "hccl", "--sizes", "1K")
    assert rc == 1, err
    line = next(line for line in err.splitlines() if "torch_npu is not installed" in line)
    assert line.startswith("probe: rank") and f"on {sim.hosts[0]}" in line
    assert "backend: torch_npu is not installed on host" in line and "BACKEND=gloo" in line
    assert "launch: root cause: rank" in err and "exited with code 2" in err
    assert "busbw" not in out  # no measurements: no table


async def test_cli_unreachable_server_exit_3_names_it(sim_factory, tmp_path) -> None:
    sim = await sim_factory(servers=2, cards=2, faults=[{"kind": "refuse", "server": 2}])
    rt = tmp_path / "rt.json"
    save(sim_table(sim), rt)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim.ssh_config_path),
        "--connect-timeout",
        "5",
        "probe",
        "--ranktable",
        str(rt),
        "--backend",
        "gloo",
        "--remote-ranktable",
        str(tmp_path / "remote" / "rt.json"),
        "--run-dir",
        str(tmp_path / "runs"),
        "--upload-base",
        str(tmp_path / "uploads"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 3, err.decode()
    assert sim.hosts[1] in err.decode() and out == b""


@pytest.mark.parametrize("flag,value", [("--ranks-per-server", "0"), ("--timeout", "-1")])
async def test_cli_bad_option_is_a_usage_error(tmp_path, flag, value) -> None:
    rt = tmp_path / "rt.json"
    rt.write_text('{"version": "1.0", "server_count": "1", "server_list": []}')
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "probe",
        "--ranktable",
        str(rt),
        flag,
        value,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and out == b""
    assert f"bad {flag}" in err.decode()


async def test_cli_failed_probe_prints_the_diagnosis_with_the_pair(sim_factory, tmp_path) -> None:
    """A lossy card pair makes HCCL's init fail on both ends (the sim's ccsim-hccl-init): the
    probe fetches the servers' plogs and prints the diagnosis naming both ranks and servers."""
    _need_torch()
    sim = await sim_factory(
        servers=2,
        cards=2,
        faults=[{"kind": "loss", "src": 1, "src_device": 1, "dst": 2, "dst_device": 1, "percent": 33.33}],
    )
    a, b = sim.hosts
    rc, out, err = await _cli(
        sim, tmp_path, "--backend", "gloo", "--sizes", "1K", "--iters", "1", "--warmup", "0", "--json"
    )
    assert rc == 1, err
    assert json.loads(out)["ok"] is False  # the JSON report is unchanged; the diagnosis is on stderr
    line = next(line for line in err.splitlines() if line.startswith("probe: diagnosis: "))
    assert (
        f"rank 1 ({a} dev 1) could not connect to rank 3 ({b} dev 1)" in line
        or f"rank 3 ({b} dev 1) could not connect to rank 1 ({a} dev 1)" in line
    ), line
    assert "EI0006" in err
    run = next(Path(tmp_path / "runs").iterdir())
    assert {p.name for p in (run / "evidence").iterdir()} == {a, b}


@pytest.mark.parametrize("keep", [False, True])
async def test_cli_keep_remote_keeps_the_private_run_folders(sim_factory, tmp_path, keep) -> None:
    """``probe --keep-remote`` as ``launch --keep-remote``: each server's private run folder
    (the probe files) and the rank table the probe created stay after the job; without it
    both are removed."""
    _need_torch()
    sim = await sim_factory(servers=2, cards=2)
    extra = ["--keep-remote"] if keep else []
    rc, _out, err = await _cli(
        sim, tmp_path, "--backend", "gloo", "--sizes", "1K", "--iters", "1", "--warmup", "0", "--json",
        "--ranks-per-server", "1", *extra,
    )  # fmt: skip
    assert rc == 0, err
    folders = sorted(p for p in (tmp_path / "uploads").glob("*/*") if p.is_dir())
    if keep:
        assert sorted(p.name for p in folders) == sorted(sim.hosts), folders
        assert all((p / "probe.py").is_file() and p.stat().st_mode & 0o777 == 0o700 for p in folders)
        assert (tmp_path / "remote" / "rt.json").is_file()
    else:
        assert folders == [] and not (tmp_path / "remote" / "rt.json").exists()

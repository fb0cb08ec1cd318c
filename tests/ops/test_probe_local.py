"""The collective probe for real: gloo ranks as local processes on loopback.

Each rank is `python3 console/probe/probe.py ...` with the env the launch engine gives it
(RANK, WORLD_SIZE, LOCAL_RANK, DEVICE_ID, MASTER_ADDR, MASTER_PORT, BACKEND). Sizes stay
tiny: the machine's 2 cores are shared.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.core.probe_report import parse_streams
from console.probe import SHIP_FILES, ship_files
from tests.system import need

PROBE = Path(__file__).resolve().parents[2] / "console" / "probe" / "probe.py"
OPS = ["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast"]
SMALL = ["--sizes", "1K,16K", "--warmup", "1", "--iters", "2"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(ranks, world: int, port: int, args, backend: str = "gloo"):
    procs = {}
    for r in ranks:
        env = {
            **os.environ,
            "RANK": str(r),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(r),
            "DEVICE_ID": str(r),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "BACKEND": backend,
        }
        procs[r] = subprocess.Popen(
            [sys.executable, str(PROBE), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return procs


def _finish(procs, timeout: float = 120):
    """rank -> (exit code, stdout lines, stderr); kills everything on timeout."""
    out = {}
    try:
        for r, p in procs.items():
            stdout, stderr = p.communicate(timeout=timeout)
            out[r] = (p.returncode, stdout.splitlines(), stderr)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


def _records(lines, kind):
    return [json.loads(line) for line in lines if json.loads(line)["probe"] == kind]


def test_four_ranks_checks_table_and_tp_smoke_match_reference():
    port = _free_port()
    res = _finish(_start(range(4), 4, port, [*SMALL, "--mode", "all", "--tokens", "6", "--timeout", "60"]))
    for r, (code, lines, err) in res.items():
        assert code == 0, f"rank {r} exited {code}: {err}"
        assert all(json.loads(line)["probe"] for line in lines), "stdout must be JSON lines only"
    report = parse_streams({r: lines for r, (_, lines, _) in res.items()})
    assert not report.failed, report.summary()
    assert report.world_size == 4 and report.unfinished_ranks == []
    assert len(report.checks) == 4 * len(OPS) and all(c.ok for c in report.checks)
    assert report.ops == OPS
    rows = report.rows()
    assert [(row["op"], row["size"]) for row in rows] == [(op, s) for op in OPS for s in ("1K", "16K")]
    assert all(len(r.per_rank_us) == 4 and min(r.per_rank_us) > 0 for r in report.results)

    smoke = report.tp_smoke
    assert smoke is not None and smoke.ok and smoke.ranks_agree and smoke.logits_match
    assert smoke.tokens_per_s > 0 and len(smoke.per_rank_tokens_per_s) == 4
    # independent check: the single-process model, run here, decodes the same tokens
    seq, _ = _tp_module().reference(_tp_module().Config(**smoke.model_extra["config"]))
    assert smoke.tokens == seq[-6:].tolist()


def _tp_module():
    spec = importlib.util.spec_from_file_location("tp_smoke_ref", PROBE.with_name("tp_smoke.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _first_line(proc, timeout: float) -> str:
    """Read one line straight from the pipe's fd (no buffering that communicate() would
    miss), waiting at most ``timeout`` seconds."""
    fd, data, deadline = proc.stdout.fileno(), b"", time.monotonic() + timeout
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 1) if ready else b""
        assert chunk, f"no line from pid {proc.pid} within {timeout} s"
        data += chunk
    return data.decode()


def test_missing_rank_is_named_by_every_rank_that_came():
    port = _free_port()
    # ranks 1 and 2 first, and only once they wait at the rendezvous rank 0 starts its
    # 4 s window: a slow interpreter start cannot make them look missing
    early = _start([1, 2], 4, port, ["--timeout", "60"])
    firsts = {r: _first_line(p, 60) for r, p in early.items()}
    res = _finish({**early, **_start([0], 4, port, ["--timeout", "4"])})
    for r, (code, lines, err) in res.items():
        lines = ([firsts[r]] if r in firsts else []) + lines
        assert code == 3, f"rank {r}: {err}"
        (error,) = _records(lines, "error")
        assert error["stage"] == "rendezvous" and error["missing_ranks"] == [3]
        assert error["message"].startswith("rank 3 never joined within 4 s")
        assert "ranks 0-2 on" in error["message"]
        assert "rank 3 never joined" in err  # the human line on stderr
        res[r] = (code, lines, err)
    report = parse_streams({r: lines for r, (_, lines, _) in res.items()})
    assert report.failed and report.missing_ranks == [3]


def test_missing_rank_0_is_named_by_the_others():
    ((code, lines, _),) = _finish(_start([1], 2, _free_port(), ["--timeout", "2"])).values()
    (error,) = _records(lines, "error")
    assert code == 3 and error["missing_ranks"] == [0]
    assert "could not reach the master at 127.0.0.1" in error["message"]


def test_a_wrong_value_fails_the_check_and_names_rank_and_op():
    res = _finish(
        _start(
            range(2),
            2,
            _free_port(),
            [
                "--ops",
                "all_reduce,broadcast",
                "--sizes",
                "1K",
                "--warmup",
                "0",
                "--iters",
                "1",
                "--corrupt",
                "1:broadcast",
            ],
        )
    )
    assert res[0][0] == 0 and res[1][0] == 1
    report = parse_streams({r: lines for r, (_, lines, _) in res.items()})
    assert report.failed
    (bad,) = report.failed_checks
    assert (bad.rank, bad.op, bad.mismatches) == (1, "broadcast", 1)
    assert any("broadcast on rank 1" in line for line in report.summary())


def test_hccl_without_torch_npu_says_so():
    need(
        importlib.util.find_spec("torch_npu") is None,
        "torch_npu is installed here: the missing-torch_npu path cannot run",
    )
    ((code, lines, err),) = _finish(_start([0], 1, _free_port(), [], backend="hccl")).values()
    (error,) = _records(lines, "error")
    assert code == 2 and error["stage"] == "backend"
    assert f"torch_npu is not installed on host {socket.gethostname()}" in error["message"]
    assert "torch_npu is not installed" in err
    assert _records(lines, "done")[0]["ok"] is False


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"RANK": "4", "WORLD_SIZE": "4"}, "RANK=4 is not below WORLD_SIZE=4"),
        ({"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": ""}, "MASTER_ADDR is not set"),
        ({"RANK": "0", "WORLD_SIZE": "1", "MASTER_PORT": "70000"}, "MASTER_PORT=70000"),
        ({"RANK": "x", "WORLD_SIZE": "1"}, "RANK='x'"),
    ],
)
def test_bad_environment_is_named(monkeypatch, capsys, env, needle):
    for key, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1", **env}.items():
        monkeypatch.setenv(key, value)
    assert _probe_module().main([]) == 2
    (error,) = _records(capsys.readouterr().out.splitlines(), "error")
    assert error["stage"] == "env" and needle in error["message"]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--sizes", "1K,2X"], "bad size '2X'"),
        (["--ops", "all_reduce,gossip"], "unknown op 'gossip'"),
        (["--iters", "0"], "--iters >= 1"),
    ],
)
def test_bad_arguments_are_named(monkeypatch, capsys, argv, needle):
    monkeypatch.setenv("RANK", "0")
    assert _probe_module().main(argv) == 2
    (error,) = _records(capsys.readouterr().out.splitlines(), "error")
    assert error["stage"] == "args" and needle in error["message"]


def _probe_module():
    spec = importlib.util.spec_from_file_location("probe_under_test", PROBE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ship_files_exist_and_match_probe():
    assert [p.name for p in ship_files()] == list(SHIP_FILES)
    assert all(p.is_file() for p in ship_files())
    tree = ast.parse(PROBE.read_text())
    shipped = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SHIP_FILES"
    )
    assert shipped == SHIP_FILES  # probe.py names the same siblings in its error message

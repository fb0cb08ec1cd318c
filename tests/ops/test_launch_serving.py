"""``launch --profile vllm-ascend|mindie-service --smoke-prompt`` on the simulated cluster: one
process per server with the flags and env the real tools need (read from each running
process), the service's answer, the root cause when a server is mis-flagged."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from console.core.ranktable.text import dumps
from console.sim import serve_install
from tests.ops.test_launch_cli import cli
from tests.ops.test_launch_sim import free_port, sim_table

PROMPT = "What's Deep Learning?"
TIMEOUT = 120


def _proc(pid: int) -> tuple[list[str], dict[str, str]]:
    """What a running process received: its argv and environment."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    env = dict(item.split(b"=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if b"=" in item)
    return [a.decode() for a in argv], {k.decode(): v.decode() for k, v in env.items()}


async def _serve_until_answer(sim, tmp_path: Path, *extra: str):
    """Start a serving launch (--json), wait for the answer, read every server process, then
    Ctrl-C it. Returns (answer event, {rank: (argv, env)}, exit code, stderr)."""
    rt = tmp_path / "rt.json"
    rt.write_text(dumps(sim_table(sim)))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim.ssh_config_path),
        "launch",
        "--json",
        "--ranktable",
        str(rt),
        "--remote-ranktable",
        str(tmp_path / "remote" / "rt.json"),
        "--run-dir",
        str(tmp_path / "runs"),
        "--master-port",
        str(free_port()),
        "--smoke-prompt",
        PROMPT,
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    pids, seen, answer = {}, {}, None
    try:
        async with asyncio.timeout(TIMEOUT):
            while answer is None:
                line = await proc.stdout.readline()
                assert line, (await proc.stderr.read()).decode()
                ev = json.loads(line)
                if ev["event"] == "started":
                    pids[ev["rank"]] = ev["pid"]
                elif ev["event"] == "answer":
                    answer = ev
            seen = {rank: _proc(pid) for rank, pid in pids.items()}
            proc.send_signal(signal.SIGINT)
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return answer, seen, proc.returncode, err.decode()


def _after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


async def test_vllm_ascend_one_process_per_server_with_dp_flags(sim_cluster, tmp_path):
    http, rpc = free_port(), free_port()
    answer, seen, rc, err = await _serve_until_answer(
        sim_cluster,
        tmp_path,
        "--profile",
        "vllm-ascend",
        "--tp",
        "4",
        "--http-port",
        str(http),
        "--rpc-port",
        str(rpc),
        "--",
        "ccsim-model",
        "--max-model-len",
        "4096",
    )
    assert answer["ok"], answer
    assert answer["answer"].startswith("Deep learning is") and answer["ttft_s"] is not None
    assert answer["where"] == f"{sim_cluster.hosts[0]}:{http}"
    assert sorted(seen) == [0, 1]  # one process per server
    h1, h2 = sim_cluster.hosts
    for node, host in enumerate((h1, h2)):
        argv, env = seen[node]
        serve_at = argv.index("serve")
        assert argv[serve_at + 1] == "ccsim-model"
        assert _after(argv, "--data-parallel-size") == "4"
        assert _after(argv, "--data-parallel-size-local") == "2"
        assert _after(argv, "--data-parallel-start-rank") == str(2 * node)
        assert _after(argv, "--data-parallel-address") == h1
        assert _after(argv, "--data-parallel-rpc-port") == str(rpc)
        assert _after(argv, "--tensor-parallel-size") == "4"
        assert _after(argv, "--max-model-len") == "4096"
        assert ("--headless" in argv) == (node == 1)
        assert env["HCCL_IF_IP"] == host
        assert env["GLOO_SOCKET_IFNAME"] == env["TP_SOCKET_IFNAME"] == env["HCCL_SOCKET_IFNAME"] == "eth0"
        assert env["NODE_RANK"] == str(node) and env["WORLD_SIZE"] == "16"
        assert env["LOCAL_WORLD_SIZE"] == "8" and env["RANK_ID_START"] == str(8 * node)
        assert env["ASCEND_RT_VISIBLE_DEVICES"] == "0,1,2,3,4,5,6,7"
        assert env["MASTER_ADDR"] == env["MASTER_IP"] == h1
        assert env["RANK_TABLE_FILE"] == env["RANKTABLEFILE"]
    assert rc == 0, err  # Ctrl-C after it answered: the operator ended the service
    assert "launch: service ready at" in err


def _mindie_config(sim, tmp_path: Path) -> Path:
    """The sim's config.json with free ports (tests run side by side on the same addresses)."""
    root = sim.root(sim.hosts[0])
    config = json.loads((root / serve_install.MINDIE_CONFIG).read_text())
    server, backend = config["ServerConfig"], config["BackendConfig"]
    for key in ("port", "managementPort", "metricsPort", "interCommPort"):
        if key in server:
            server[key] = free_port()
    backend["multiNodesInferPort"] = free_port()
    path = tmp_path / "mindie-config.json"
    path.write_text(json.dumps(config))
    return path


async def test_mindie_service_daemon_per_server_with_its_config(sim_cluster, tmp_path):
    config = _mindie_config(sim_cluster, tmp_path)
    answer, seen, rc, err = await _serve_until_answer(
        sim_cluster, tmp_path, "--profile", "mindie-service", "--mindie-config", str(config), "--keep-remote"
    )  # the run folders (with the derived configs) stay to be checked
    assert answer["ok"], (answer, err)
    assert answer["answer"].startswith("Deep learning is")
    h1, _ = sim_cluster.hosts
    for node, host in enumerate(sim_cluster.hosts):
        argv, env = seen[node]
        assert any(a.endswith("mindieservice_daemon") or "mindie_daemon" in a for a in argv), argv
        assert env["MASTER_IP"] == h1 and env["MIES_CONTAINER_IP"] == host
        assert "http_proxy" not in env and "https_proxy" not in env
        path = env["MIES_CONFIG_JSON_PATH"]
        assert os.stat(path).st_mode & 0o777 == 0o640
        derived = json.loads(Path(path).read_text())
        assert derived["BackendConfig"]["multiNodesInferEnabled"] is True
        assert derived["ServerConfig"]["ipAddress"] == host
    assert rc == 0, err


async def test_smoke_only_exits_0_with_the_answer_on_stdout(sim_cluster, tmp_path):
    rc, out, err = await cli(
        sim_cluster,
        tmp_path,
        "--profile",
        "vllm-ascend",
        "--http-port",
        str(free_port()),
        "--rpc-port",
        str(free_port()),
        "--smoke-prompt",
        PROMPT,
        "--smoke-only",
        "--",
        "ccsim-model",
        timeout=TIMEOUT,
    )
    assert rc == 0, err
    assert "Deep learning is a branch of machine learning" in out
    assert "launch: serving at" in err and "first token after" in err


def _profile(tmp_path: Path, old: str, new: str) -> str:
    """The bundled vllm-ascend profile with one flag changed (an operator's mistake)."""
    text = (Path(__file__).parents[2] / "console/profiles/vllm-ascend.toml").read_text()
    assert old in text
    path = tmp_path / "vllm-bad.toml"
    text = text.replace(old, new).replace('serving = "vllm-ascend"', 'serving = "vllm-ascend"\nname = "vllm-bad"')
    path.write_text(text)
    return str(path)


async def test_mis_flagged_server_is_named_as_the_root_cause(sim_cluster, tmp_path):
    """Server 2 started without --headless: vLLM's head refuses its engine (rank 1); the
    console names the server holding that data-parallel rank."""
    bad = _profile(tmp_path, "{headless}", "")
    rc, _, err = await cli(
        sim_cluster,
        tmp_path,
        "--profile",
        bad,
        "--http-port",
        str(free_port()),
        "--rpc-port",
        str(free_port()),
        "--smoke-only",
        "--ready-timeout",
        "60",
        "--",
        "ccsim-model",
        timeout=TIMEOUT,
    )
    assert rc == 1, err
    h2 = sim_cluster.hosts[1]
    root = next(line for line in err.splitlines() if line.startswith("launch: root cause:"))
    assert h2 in root and "must use --headless" in root, err


async def test_server_that_never_joins_is_named_within_the_ready_timeout(sim_factory, tmp_path):
    """Server 2 never joins (its process runs but never connects): the head waits like the real
    one; at the ready timeout the console names server 2, not the waiting head."""
    sim = await sim_factory(servers=2, cards=8, faults=[{"kind": "serve_no_join", "server": 2}])
    rc, _, err = await cli(
        sim,
        tmp_path,
        "--profile",
        "vllm-ascend",
        "--http-port",
        str(free_port()),
        "--rpc-port",
        str(free_port()),
        "--smoke-only",
        "--ready-timeout",
        "12",
        "--",
        "ccsim-model",
        timeout=TIMEOUT,
    )
    assert rc == 1, err
    root = next(line for line in err.splitlines() if line.startswith("launch: root cause:"))
    assert sim.hosts[1] in root and "never joined the master" in root, err


async def test_mindie_server_that_never_joins_is_named(sim_factory, tmp_path):
    sim = await sim_factory(servers=3, cards=8, faults=[{"kind": "serve_no_join", "server": 3}])
    config = _mindie_config(sim, tmp_path)
    rc, _, err = await cli(
        sim,
        tmp_path,
        "--profile",
        "mindie-service",
        "--mindie-config",
        str(config),
        "--smoke-only",
        "--ready-timeout",
        "12",
        timeout=TIMEOUT,
    )
    assert rc == 1, err
    root = next(line for line in err.splitlines() if line.startswith("launch: root cause:"))
    assert sim.hosts[2] in root and "never joined the master" in root, err


async def test_mindie_table_rules_refuse_before_any_server_is_touched(sim_cluster, tmp_path):
    table = json.loads(dumps(sim_table(sim_cluster)))
    for server in table["server_list"]:
        server.pop("container_ip", None)
    rt = tmp_path / "rt-no-container.json"
    rt.write_text(json.dumps(table))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim_cluster.ssh_config_path),
        "launch",
        "--ranktable",
        str(rt),
        "--run-dir",
        str(tmp_path / "runs"),
        "--profile",
        "mindie-service",
        "--smoke-only",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 1, err
    assert b"The containerIp in the server node is empty in ranktable file." in err
    assert not (tmp_path / "runs").exists()  # refused before the run record and any SSH


async def test_failed_first_request_is_exit_1_with_status_and_body(sim_factory, tmp_path):
    """The service answers 500 (it crashes at the first request): exit 1, the HTTP status and
    body on stderr."""
    sim = await sim_factory(servers=2, cards=8, faults=[{"kind": "serve_crash", "after": 0}])
    rc, out, err = await cli(
        sim,
        tmp_path,
        "--profile",
        "vllm-ascend",
        "--http-port",
        str(free_port()),
        "--rpc-port",
        str(free_port()),
        "--smoke-only",
        "--",
        "ccsim-model",
        timeout=TIMEOUT,
    )
    assert rc == 1, err
    failed = next(line for line in err.splitlines() if "the first request to" in line)
    assert "FAILED: HTTP 500" in failed, err
    assert "Deep learning" not in out


async def test_ctrl_c_before_the_service_answered_is_130(sim_factory, tmp_path):
    sim = await sim_factory(servers=2, cards=8, faults=[{"kind": "serve_no_join", "server": 2}])
    rt = tmp_path / "rt.json"
    rt.write_text(dumps(sim_table(sim)))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sim.ssh_config_path),
        "launch",
        "--json",
        "--ranktable",
        str(rt),
        "--run-dir",
        str(tmp_path / "runs"),
        "--profile",
        "vllm-ascend",
        "--http-port",
        str(free_port()),
        "--rpc-port",
        str(free_port()),
        "--smoke-prompt",
        PROMPT,
        "--",
        "ccsim-model",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    started = 0
    try:
        async with asyncio.timeout(TIMEOUT):
            while started < 2:
                line = await proc.stdout.readline()
                assert line, (await proc.stderr.read()).decode()
                started += json.loads(line)["event"] == "started"
            proc.send_signal(signal.SIGINT)
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 130, err.decode()
    assert b"before the service answered" in err


async def test_smoke_only_stop_is_planned_not_a_failure_and_commands_are_shown(sim_cluster, tmp_path):
    rc, _out, err = await cli(
        sim_cluster,
        tmp_path,
        "--profile",
        "vllm-ascend",
        "--http-port",
        str(free_port()),
        "--rpc-port",
        str(free_port()),
        "--smoke-prompt",
        PROMPT,
        "--smoke-only",
        "--",
        "ccsim-model",
        timeout=TIMEOUT,
    )
    assert rc == 0, err
    lines = err.splitlines()
    # before the launch, each server's command line (the head without --headless, the others with it)
    shown = {
        ln.split(": ", 2)[1]: ln.split(": ", 2)[2]
        for ln in lines
        if ln.startswith("launch: 127.0.0.") and "vllm serve" in ln
    }
    assert set(shown) == {"127.0.0.11", "127.0.0.12"}, err
    assert "--headless" not in shown["127.0.0.11"] and "--headless" in shown["127.0.0.12"]
    assert lines.index(next(ln for ln in lines if "vllm serve" in ln)) < lines.index(
        next(ln for ln in lines if "launch: service ready" in ln)
    )
    assert "launch: stopping the service after the first answer (--smoke-only)" in lines
    assert "stopped by the user" not in err
    after = lines[lines.index("launch: stopping the service after the first answer (--smoke-only)") :]
    assert not any(ln.startswith("[") and "ERROR" in ln for ln in after), err

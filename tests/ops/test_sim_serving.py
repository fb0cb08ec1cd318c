"""The serving fakes (``vllm serve``, ``mindieservice_daemon``) run over the simulated cluster's
real SSH, one process per server, with correct and mis-flagged arguments, and HTTP requests to
the first server. Waits are on the real condition (a line, an exit) with a deadline."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shlex
import socket
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from console.core.errors import InputError
from console.core.ranktable import build
from console.core.ranktable.text import dumps
from console.sim import serve_install
from console.sim.spec import ClusterSpec
from tests.ops.procs import alive, wait_gone

DEADLINE = 30.0
READY_VLLM = "INFO:     Application startup complete."
READY_MINDIE = "Daemon start success!"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Remote:
    """One long-running command on a simulated server; its stdout and stderr, merged."""

    def __init__(self, conn: asyncssh.SSHClientConnection, proc: asyncssh.SSHClientProcess) -> None:
        self.conn, self.proc = conn, proc
        self.lines: list[str] = []

    async def until(self, text: str, timeout: float = DEADLINE) -> str:
        """Read lines until one contains ``text`` (AssertionError at EOF, TimeoutError late)."""
        for line in self.lines:
            if text in line:
                return line
        async with asyncio.timeout(timeout):
            while True:
                line = await self.proc.stdout.readline()
                assert line, f"{text!r} never came; output:\n" + "".join(self.lines)
                self.lines.append(line)
                if text in line:
                    return line

    async def status(self, timeout: float = DEADLINE) -> int | None:
        """Read to the end; the exit status."""
        async with asyncio.timeout(timeout):
            while line := await self.proc.stdout.readline():
                self.lines.append(line)
            await self.proc.wait_closed()
        return self.proc.exit_status

    @property
    def text(self) -> str:
        return "".join(self.lines)

    async def close(self) -> None:
        self.conn.close()
        await self.conn.wait_closed()


async def listening(host: str, port: int, timeout: float = DEADLINE) -> None:
    """Poll until something accepts TCP connections at (host, port); TimeoutError after timeout."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection(host, port)
            except ConnectionRefusedError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


def exports(env: dict[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}; " for k, v in env.items())


async def start(sim: Any, sim_connect: Any, host: str, cmd: str, env: dict[str, str] | None = None) -> Remote:
    conn = await sim_connect(sim, host)
    proc = await conn.create_process(exports(env or {}) + cmd, stderr=asyncssh.STDOUT)
    return Remote(conn, proc)


def vllm_cmd(
    dp: int,
    dpl: int,
    start_rank: int,
    rpc: int,
    http: int,
    tp: int = 8,
    headless: bool = False,
    address: str = "127.0.0.11",
    model: str = "qwen",
) -> str:
    cmd = (
        f"vllm serve {model} --data-parallel-size {dp} --data-parallel-size-local {dpl} "
        f"--data-parallel-start-rank {start_rank} --data-parallel-address {address} "
        f"--data-parallel-rpc-port {rpc} --tensor-parallel-size {tp} --port {http}"
    )
    return cmd + (" --headless" if headless else "")


def post(host: str, port: int, path: str, body: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection(host, port, timeout=DEADLINE)
    try:
        conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.getheaders())
    finally:
        conn.close()


def sse_text(raw: bytes, chat: bool) -> tuple[str, list[str]]:
    """The streamed text and the finish reasons, from ``data:`` lines ending with [DONE]."""
    events = [line[len(b"data: ") :] for line in raw.split(b"\n\n") if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    chunks = [json.loads(e)["choices"][0] for e in events[:-1]]
    key = "content"
    text = "".join((c["delta"].get(key, "") if chat else c["text"]) for c in chunks)
    return text, [c["finish_reason"] for c in chunks if c["finish_reason"]]


# --- vLLM ---------------------------------------------------------------------------------------


async def test_vllm_data_parallel_on_two_servers_answers(sim_factory, sim_connect) -> None:
    sim = await sim_factory(servers=2)
    rpc, port = free_port(), free_port()
    head = await start(sim, sim_connect, "127.0.0.11", vllm_cmd(2, 1, 0, rpc, port))
    other = await start(sim, sim_connect, "127.0.0.12", vllm_cmd(2, 1, 1, rpc, port, headless=True))
    try:
        await head.until(READY_VLLM)
        assert f"Starting vLLM API server 0 on http://127.0.0.11:{port}" in head.text
        assert (
            "Launching 1 data parallel engine(s) in headless mode, with head node address "
            f"tcp://127.0.0.11:{rpc}." in await other.until("headless mode")
        )
        status, body, _ = await asyncio.to_thread(
            post,
            "127.0.0.11",
            port,
            "/v1/completions",
            {"model": "qwen", "prompt": "What's Deep Learning?", "max_tokens": 64},
        )
        doc = json.loads(body)
        assert status == 200 and doc["object"] == "text_completion"
        assert doc["choices"][0]["text"].startswith("Deep learning is a branch of machine learning")
        assert doc["usage"]["completion_tokens"] == len(doc["choices"][0]["text"].split())
        status, raw, headers = await asyncio.to_thread(
            post,
            "127.0.0.11",
            port,
            "/v1/completions",
            {"model": "qwen", "prompt": "What's Deep Learning?", "max_tokens": 64, "stream": True},
        )
        assert status == 200 and headers["content-type"].startswith("text/event-stream")
        assert sse_text(raw, chat=False) == (doc["choices"][0]["text"], ["stop"])
        # the same request through the first server (its own stdlib client, over SSH)
        code = f"import urllib.request as u; print(u.urlopen('http://127.0.0.11:{port}/v1/models').read().decode())"
        async with sim_connect(sim, "127.0.0.11") as conn:
            result = await conn.run(f"python3 -c {shlex.quote(code)}", check=True)
        assert json.loads(result.stdout)["data"][0]["id"] == "qwen"
        status, body, _ = await asyncio.to_thread(
            post, "127.0.0.11", port, "/v1/completions", {"model": "other", "prompt": "x"}
        )
        assert status == 404 and b"The model `other` does not exist." in body
    finally:
        await head.close()
    # the head gone (its channel closed: process group killed), the other server's engine dies
    pids = [int(m) for m in re.findall(r"pid=(\d+)\)", head.text + other.text)]
    assert await other.status() == 1
    assert "EngineCore encountered a fatal error." in other.text
    await other.close()
    assert len(set(pids)) == 2
    for pid in pids:
        await wait_gone(pid)
    assert not any(alive(p) for p in pids)


async def test_a_silent_connection_to_the_head_holds_up_no_server(sim_factory, sim_connect) -> None:
    """Someone connects to the head's RPC port and says nothing (a port probe): the other server
    still joins at once (the head greets each connection on its own; it used to read the silent
    one for 30 s first)."""
    sim = await sim_factory(servers=2)
    rpc, port = free_port(), free_port()
    head = await start(sim, sim_connect, "127.0.0.11", vllm_cmd(2, 1, 0, rpc, port))
    try:
        await listening("127.0.0.11", rpc)
        _, silent = await asyncio.open_connection("127.0.0.11", rpc)
        other = await start(sim, sim_connect, "127.0.0.12", vllm_cmd(2, 1, 1, rpc, port, headless=True))
        await head.until(READY_VLLM, timeout=15)
        silent.close()
        await other.close()
    finally:
        await head.close()


async def test_vllm_second_server_without_headless_ends_the_head(sim_factory, sim_connect) -> None:
    sim = await sim_factory(servers=2)
    rpc, port = free_port(), free_port()
    head = await start(sim, sim_connect, "127.0.0.11", vllm_cmd(2, 1, 0, rpc, port))
    other = await start(sim, sim_connect, "127.0.0.12", vllm_cmd(2, 1, 1, rpc, port))
    try:
        assert await head.status() == 1
        assert (
            "RuntimeError: Remote engine 1 must use --headless unless in external or hybrid dp lb mode"
        ) in head.text
        assert READY_VLLM not in head.text
    finally:
        await head.close()
        await other.close()


async def test_vllm_mismatched_sizes_and_ranks_end_the_head(sim_factory, sim_connect) -> None:
    sim = await sim_factory(servers=2)
    for flags, expected in (
        ({"tp": 4}, "RuntimeError: Configuration mismatch detected for engine 1."),
        ({"start_rank": 0}, "RuntimeError: Message from engine with unexpected data parallel rank: 0"),
    ):
        rpc, port = free_port(), free_port()
        head = await start(sim, sim_connect, "127.0.0.11", vllm_cmd(2, 1, 0, rpc, port))
        kw: dict[str, Any] = {"start_rank": 1, "tp": 8, **flags}
        other = await start(
            sim, sim_connect, "127.0.0.12", vllm_cmd(2, 1, kw["start_rank"], rpc, port, tp=kw["tp"], headless=True)
        )
        try:
            assert await head.status() == 1
            assert expected in head.text
        finally:
            await head.close()
            await other.close()


async def test_vllm_local_flag_checks_use_vllms_wording(sim_factory, sim_connect) -> None:
    sim = await sim_factory(servers=2)
    cases = (
        (vllm_cmd(2, 4, 0, 1, 1), "ValueError: data_parallel_size_local (4) must be <= data_parallel_size (2)"),
        (vllm_cmd(2, 1, 2, 1, 1, headless=True), "ValueError: data_parallel_rank (2) must be in the range [0, 2)"),
        (vllm_cmd(2, 0, 1, 1, 1, headless=True), "ValueError: data_parallel_size_local must be > 0 in headless mode"),
        (
            vllm_cmd(2, 1, 0, 1, 1, address="127.0.0.12"),
            "zmq.error.ZMQError: Cannot assign requested address (addr='tcp://127.0.0.12:1')",
        ),
    )
    async with sim_connect(sim, "127.0.0.11") as conn:
        for cmd, line in cases:
            result = await conn.run(cmd)
            assert result.exit_status == 1, (cmd, result.stdout, result.stderr)
            assert line in result.stderr.splitlines(), (cmd, result.stderr)
        result = await conn.run("vllm serve m --data-parallel-size two")
        assert result.exit_status == 2
        assert "vllm serve: error: argument --data-parallel-size/-dp: invalid int value: 'two'" in result.stderr


async def test_vllm_server_on_another_rpc_port_makes_the_head_wait(sim_factory, sim_connect) -> None:
    sim = await sim_factory(servers=2)
    rpc, port = free_port(), free_port()
    env = {"VLLM_LOGGING_LEVEL": "DEBUG", "CCSIM_POLL_S": "0.2"}
    head = await start(sim, sim_connect, "127.0.0.11", vllm_cmd(2, 1, 0, rpc, port), env)
    other = await start(sim, sim_connect, "127.0.0.12", vllm_cmd(2, 1, 1, free_port(), port, headless=True))
    try:
        await other.until("headless mode")
        wait = "Waiting for 0 local, 1 remote core engine proc(s) to connect."
        await head.until(wait)
        head.lines.clear()
        await head.until(wait)  # still waiting after the other server started: the service hangs
        assert other.proc.exit_status is None and READY_VLLM not in head.text
    finally:
        await head.close()
        await other.close()


async def test_fault_serve_no_join_hangs_the_head(sim_factory, sim_connect) -> None:
    spec = ClusterSpec.generate(servers=2, faults=[{"kind": "serve_no_join", "server": 2}])
    sim = await sim_factory(spec)
    rpc, port = free_port(), free_port()
    env = {"VLLM_LOGGING_LEVEL": "DEBUG", "CCSIM_POLL_S": "0.2"}
    head = await start(sim, sim_connect, "127.0.0.11", vllm_cmd(2, 1, 0, rpc, port), env)
    other = await start(sim, sim_connect, "127.0.0.12", vllm_cmd(2, 1, 1, rpc, port, headless=True))
    try:
        await other.until("headless mode")
        wait = "Waiting for 0 local, 1 remote core engine proc(s) to connect."
        await head.until(wait)
        head.lines.clear()
        await head.until(wait)
        assert READY_VLLM not in head.text
    finally:
        await head.close()
        await other.close()


async def test_fault_serve_crash_after_n_requests(sim_factory, sim_connect) -> None:
    spec = ClusterSpec.generate(servers=2, faults=[{"kind": "serve_crash", "after": 1}])
    sim = await sim_factory(spec)
    rpc, port = free_port(), free_port()
    head = await start(sim, sim_connect, "127.0.0.11", vllm_cmd(2, 1, 0, rpc, port))
    other = await start(sim, sim_connect, "127.0.0.12", vllm_cmd(2, 1, 1, rpc, port, headless=True))
    try:
        await head.until(READY_VLLM)
        body = {"model": "qwen", "prompt": "hello", "max_tokens": 4}
        first = await asyncio.to_thread(post, "127.0.0.11", port, "/v1/completions", body)
        assert first[0] == 200
        second = await asyncio.to_thread(post, "127.0.0.11", port, "/v1/completions", body)
        assert second[0] == 500
        assert await head.status() == 1
        assert "EngineDeadError: EngineCore encountered an issue." in head.text
    finally:
        await head.close()
        await other.close()


# --- MindIE Service ----------------------------------------------------------------------------


def mindie_files(
    sim: Any, tmp_path: Path, table_doc: dict[str, Any] | None = None, **config: Any
) -> tuple[dict[str, str], dict[str, Any]]:
    """A rank table and a multi-server config.json per server (as the console would upload them);
    the env every server gets, with ``{ip}`` for the server's own address."""
    table = table_doc or json.loads(dumps(build(sim.spec.inventory())))
    rt = tmp_path / "ranktable.json"
    rt.write_text(json.dumps(table))
    rt.chmod(0o640)
    ports = {"port": free_port(), "infer": free_port()}
    for srv in sim.spec.servers:
        doc = serve_install.mindie_config(srv)
        doc["BackendConfig"]["multiNodesInferEnabled"] = True
        doc["BackendConfig"]["multiNodesInferPort"] = ports["infer"]
        doc["ServerConfig"]["ipAddress"] = srv.address
        doc["ServerConfig"]["port"] = ports["port"]
        for key, value in config.items():
            section, field = key.split("__")
            doc[section][field] = value
        path = tmp_path / f"config-{srv.address}.json"
        path.write_text(json.dumps(doc))
        path.chmod(0o640)
    env = {
        "RANK_TABLE_FILE": str(rt),
        "MASTER_IP": sim.spec.servers[0].address,
        "MIES_CONTAINER_IP": "{ip}",
        "MIES_CONFIG_JSON_PATH": str(tmp_path / "config-{ip}.json"),
    }
    return env, ports


DAEMON = 'cd "$CLUSTER_CONSOLE_ROOT/usr/local/Ascend/mindie/latest/mindie-service" && ./bin/mindieservice_daemon'


async def start_daemons(sim: Any, sim_connect: Any, env: dict[str, str]) -> list[Remote]:
    out = []
    for srv in sim.spec.servers:
        mine = {k: v.replace("{ip}", srv.address) for k, v in env.items()}
        out.append(await start(sim, sim_connect, srv.address, DAEMON, mine))
    return out


async def test_mindie_service_on_two_servers_answers(sim_factory, sim_connect, tmp_path) -> None:
    sim = await sim_factory(servers=2)
    env, ports = mindie_files(sim, tmp_path)
    daemons = await start_daemons(sim, sim_connect, env)
    try:
        for d in daemons:
            await d.until(READY_MINDIE)
        assert "Finished parsing ranktable file." in daemons[1].text
        body = {
            "model": serve_install.MODEL_NAME,
            "messages": [{"role": "user", "content": "What's Deep Learning?"}],
            "max_tokens": 64,
            "stream": True,
        }
        status, raw, _ = await asyncio.to_thread(post, "127.0.0.11", ports["port"], "/v1/chat/completions", body)
        assert status == 200
        text, reasons = sse_text(raw, chat=True)
        assert text.startswith("Deep learning is a branch of machine learning") and reasons == ["stop"]
        status, raw, _ = await asyncio.to_thread(
            post, "127.0.0.11", ports["port"], "/v1/chat/completions", {**body, "stream": False}
        )
        assert json.loads(raw)["choices"][0]["message"]["content"] == text
    finally:
        await daemons[0].close()
    assert await daemons[1].status() == 1  # the master gone, the other daemon stops
    assert "Daemon is killing..." in daemons[1].text
    await daemons[1].close()


async def test_mindie_checks_env_and_ranktable_with_mindies_wording(sim_factory, sim_connect, tmp_path) -> None:
    sim = await sim_factory(servers=2)
    good = json.loads(dumps(build(sim.spec.inventory())))
    no_container = json.loads(json.dumps(good))
    del no_container["server_list"][1]["container_ip"]
    one_server = {**json.loads(json.dumps(good)), "server_count": "1"}
    short = json.loads(json.dumps(good))
    short["server_list"][1]["device"] = short["server_list"][1]["device"][:4]
    cases = (
        (no_container, {}, "The containerIp in the server node is empty in ranktable file."),
        (
            one_server,
            {},
            ("Parameter server_count is 1, which is not equal to server_list length in ranktable file, which is 2"),
        ),
        (one_server, {}, "Parameter server_count must be in range [2, 60], but got 1"),
        (short, {}, ("The number of devices in every server node is 4 which not equal in ranktable file, which is 8")),
        (
            good,
            {"RANK_TABLE_FILE": ""},
            ("Ranktable file is not exist, please set a valid ranktable file path with RANK_TABLE_FILE environment."),
        ),
    )
    for i, (table, extra, line) in enumerate(cases):
        folder = tmp_path / str(i)
        folder.mkdir()
        env, _ = mindie_files(sim, folder, table)
        env = {k: v.replace("{ip}", "127.0.0.11") for k, v in {**env, **extra}.items()}
        async with sim_connect(sim, "127.0.0.11") as conn:
            result = await conn.run(exports(env) + DAEMON)
        assert result.exit_status == 1, result.stdout
        assert line in result.stdout.splitlines(), result.stdout


async def test_mindie_checks_config_and_weights(sim_factory, sim_connect, tmp_path) -> None:
    sim = await sim_factory(servers=2)
    env, _ = mindie_files(sim, tmp_path)
    env = {k: v.replace("{ip}", "127.0.0.11") for k, v in env.items()}
    weights_conf = sim.root("127.0.0.11") / serve_install.WEIGHTS.lstrip("/") / "config.json"
    async with sim_connect(sim, "127.0.0.11") as conn:
        weights_conf.chmod(0o644)
        result = await conn.run(exports(env) + DAEMON)
        assert result.exit_status == 1 and "Check_path: config.json failed" in result.stdout
        weights_conf.chmod(0o640)
        Path(env["MIES_CONFIG_JSON_PATH"]).chmod(0o666)
        result = await conn.run(exports(env) + DAEMON)
        assert result.exit_status == 1 and "is higher than 640" in result.stdout


async def test_mindie_server_with_a_proxy_never_joins(sim_factory, sim_connect, tmp_path) -> None:
    sim = await sim_factory(servers=2)
    env, ports = mindie_files(sim, tmp_path)
    first = await start(
        sim, sim_connect, "127.0.0.11", DAEMON, {k: v.replace("{ip}", "127.0.0.11") for k, v in env.items()}
    )
    second_env = {k: v.replace("{ip}", "127.0.0.12") for k, v in env.items()}
    second = await start(sim, sim_connect, "127.0.0.12", DAEMON, {**second_env, "https_proxy": "http://proxy:3128"})
    try:
        await second.until("Finished parsing ranktable file.")
        await first.until("Finished parsing ranktable file.")
        # the master listens (and a silent connection holds up no one) but the other never comes
        await listening("127.0.0.11", ports["infer"])
        with socket.create_connection(("127.0.0.11", ports["infer"]), timeout=DEADLINE):
            pass
        assert READY_MINDIE not in first.text + second.text
        assert first.proc.exit_status is None and second.proc.exit_status is None
    finally:
        await first.close()
        await second.close()


def test_sim_installs_the_serving_tools(tmp_path) -> None:
    from console.sim import state

    spec = ClusterSpec.generate(servers=2)
    roots = state.write_cluster(spec, tmp_path)
    root = roots["node01"]
    home = root / serve_install.MINDIE_HOME
    assert os.access(home / "bin/mindieservice_daemon", os.X_OK)
    assert os.access(root / "usr/local/bin/vllm", os.X_OK)
    assert (home / "conf/config.json").stat().st_mode & 0o777 == 0o640
    weights = root / serve_install.WEIGHTS.lstrip("/")
    assert weights.stat().st_mode & 0o777 == 0o750
    for rel in serve_install.set_env_files(root):
        assert (root / rel).is_file()


async def test_mindie_server_with_another_ranktable_is_refused(sim_factory, sim_connect, tmp_path) -> None:
    sim = await sim_factory(servers=2)
    env, _ = mindie_files(sim, tmp_path)
    other_table = tmp_path / "other.json"
    doc = json.loads(Path(env["RANK_TABLE_FILE"]).read_text())
    doc["status"] = "completed "  # same servers, other bytes: another file than the master's
    other_table.write_text(json.dumps(doc))
    other_table.chmod(0o640)
    first = await start(
        sim, sim_connect, "127.0.0.11", DAEMON, {k: v.replace("{ip}", "127.0.0.11") for k, v in env.items()}
    )
    second_env = {k: v.replace("{ip}", "127.0.0.12") for k, v in env.items()}
    second = await start(sim, sim_connect, "127.0.0.12", DAEMON, {**second_env, "RANK_TABLE_FILE": str(other_table)})
    try:
        assert await second.status() == 1
        assert "The ranktable file of this node differs from the master's." in second.text
        assert first.proc.exit_status is None and READY_MINDIE not in first.text
    finally:
        await first.close()
        await second.close()


def test_serving_faults_name_a_server_of_the_spec() -> None:
    with pytest.raises(InputError, match="no server 5"):
        ClusterSpec.from_dict({"generate": {"servers": 2}, "faults": [{"kind": "serve_no_join", "server": 5}]})
    spec = ClusterSpec.from_dict({"generate": {"servers": 2}, "faults": [{"kind": "serve_crash", "after": 3}]})
    assert serve_install.serve_state(spec, spec.servers[0]) == {"no_join": False, "crash_after": 3}


async def test_vllm_ifname_variables_must_name_this_servers_nic(sim_factory, sim_connect) -> None:
    """Server 2's NIC is ens3 (not eth0): gloo and HCCL fail there in their own words."""
    spec = ClusterSpec.generate(servers=2)
    spec.servers[1].host_nic = "ens3"
    sim = await sim_factory(spec)
    not_mine = vllm_cmd(2, 1, 0, 1, 1)  # as the head on server 2: fails after the NIC checks
    async with sim_connect(sim, "127.0.0.12") as conn:
        result = await conn.run(exports({"GLOO_SOCKET_IFNAME": "eth0"}) + not_mine)
        assert result.exit_status == 1
        assert (
            "RuntimeError: [enforce fail at /pytorch/third_party/gloo/gloo/transport/tcp/device.cc:83] "
            "ifa != nullptr. Unable to find address for: eth0"
        ) in result.stderr
        result = await conn.run(exports({"HCCL_SOCKET_IFNAME": "eth"}) + not_mine)
        assert result.exit_status == 1
        lines = result.stderr.splitlines()
        assert lines[0].endswith(
            "[InitGroupStage][EnvConfig]set ifname to [eth] by HCCL_SOCKET_IFNAME, but "
            "not found in the environment, ifnames in the environment is as follows"
        )
        assert lines[1].endswith("get host ip fail by socket Ifname. name[lo] ip[127.0.0.1%lo]")
        assert lines[2].endswith("get host ip fail by socket Ifname. name[ens3] ip[127.0.0.12%ens3]")
        for good in (
            {"GLOO_SOCKET_IFNAME": "ens3", "HCCL_SOCKET_IFNAME": "=ens3"},
            {"HCCL_SOCKET_IFNAME": "^eth"},
            {"HCCL_SOCKET_IFNAME": "en"},
        ):
            result = await conn.run(exports(good) + not_mine)
            assert "Cannot assign requested address" in result.stderr, (good, result.stderr)

"""The first request: a streamed OpenAI-compatible completion through an SSH local port
forward to the first server (the sim accepts direct-tcpip to loopback like sshd)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from console.ops.smoke import SmokeTarget, first_request
from console.remote import Pool, SSHOptions


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, dict]]] = []
    status = 200
    hold: ClassVar[tuple[threading.Event, threading.Event] | None] = None
    """(arrived, release): the answer waits for ``release`` once the request ``arrived``."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, body))
        if self.hold is not None:
            arrived, release = self.hold
            arrived.set()
            release.wait(60)
        if self.status != 200:
            payload = b'{"error": "model not loaded"}'
            self.send_response(self.status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        key = "text" if self.path == "/v1/completions" else "delta"
        for word in ("Deep ", "learning ", "is..."):
            choice = {"text": word} if key == "text" else {"delta": {"content": word}}
            self._chunk(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service():
    _Handler.seen = []
    _Handler.status = 200
    _Handler.hold = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def options(sim) -> SSHOptions:
    return SSHOptions(ssh_config=sim.ssh_config_path, connect_timeout=10, command_timeout=60)


async def test_streamed_answer_through_the_forward(sim_cluster, service):
    target = SmokeTarget(sim_cluster.hosts[0], "127.0.0.1", service, "completions", "some-model")
    async with Pool(options(sim_cluster)) as pool:
        result = await first_request(pool, target, "What's Deep Learning?")
    assert result.ok, result.error
    assert result.answer == "Deep learning is..."
    assert result.ttft_s is not None and result.total_s is not None and result.ttft_s <= result.total_s
    path, body = _Handler.seen[0]
    assert path == "/v1/completions"
    assert body["prompt"] == "What's Deep Learning?" and body["model"] == "some-model" and body["stream"]


async def test_chat_api_reads_deltas_without_ssh(service):
    target = SmokeTarget("node1", "127.0.0.1", service, "chat", "qwen")
    result = await first_request(None, target, "hi")
    assert result.ok and result.answer == "Deep learning is..."
    assert _Handler.seen[0][0] == "/v1/chat/completions"
    assert _Handler.seen[0][1]["messages"] == [{"role": "user", "content": "hi"}]


async def test_http_error_keeps_status_and_body(sim_cluster, service):
    _Handler.status = 503
    target = SmokeTarget(sim_cluster.hosts[0], "127.0.0.1", service, "completions", "m")
    async with Pool(options(sim_cluster)) as pool:
        result = await first_request(pool, target, "x")
    assert not result.ok and result.status == 503
    assert "HTTP 503" in result.error and "model not loaded" in result.error


async def test_nobody_listening_is_named(sim_cluster, service):
    target = SmokeTarget(sim_cluster.hosts[0], "127.0.0.1", 1, "completions", "m")
    async with Pool(options(sim_cluster)) as pool:
        result = await first_request(pool, target, "x", timeout=10)
    assert not result.ok and result.status is None
    assert "127.0.0.1:1" in result.error and sim_cluster.hosts[0] in result.error


def _my_listeners() -> set[tuple[str, str]]:
    """This process's listening sockets: ("tcp", "ADDR:PORT" in /proc hex) and ("unix", path)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/self/fd/{fd}")
            if link.startswith("socket:["):
                mine.add(link[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/net/{table}") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in mine:  # LISTEN
                    found.add(("tcp", fields[1]))
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and int(fields[3], 16) & 0x10000 and fields[6] in mine:  # __SO_ACCEPTCON
                found.add(("unix", fields[7]))
    return found


_CONNECT_AS_OTHER = """
import json, socket, sys
for kind, where in json.loads(sys.argv[1]):
    if kind == "tcp":
        addr, port = where.split(":")
        ip = ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0)) if len(addr) == 8 else "::1"
        s, target = socket.socket(socket.AF_INET6 if len(addr) > 8 else socket.AF_INET), (ip, int(port, 16))
    else:
        s, target = socket.socket(socket.AF_UNIX), where
    try:
        s.connect(target)
        print("connected", kind, where)
    except OSError as exc:
        print("refused", kind, type(exc).__name__)
"""


async def test_no_other_local_user_can_reach_the_service_while_the_request_runs(sim_cluster, service):
    """The forward of the first request is a Unix socket in a private 0700 folder, not a TCP
    port on 127.0.0.1: while the request runs, the second local user ``ccother`` cannot
    connect to anything the console listens on (and the console opened no TCP listener)."""
    try:
        other = pwd.getpwnam("ccother")
    except KeyError:
        pytest.skip("needs the second local user ccother")
    arrived, release = threading.Event(), threading.Event()
    _Handler.hold = (arrived, release)
    target = SmokeTarget(sim_cluster.hosts[0], "127.0.0.1", service, "completions", "m")
    async with Pool(options(sim_cluster)) as pool:
        await pool.connect(target.host)
        before = _my_listeners()
        task = asyncio.create_task(first_request(pool, target, "x", timeout=60))
        try:
            assert await asyncio.to_thread(arrived.wait, 60), "the request never reached the service"
            new = sorted(_my_listeners() - before)
            folders = [os.stat(os.path.dirname(path)) for kind, path in new if kind == "unix"]
            tried = await asyncio.to_thread(
                subprocess.run,
                ["setpriv", f"--reuid={other.pw_uid}", f"--regid={other.pw_gid}", "--clear-groups",
                 sys.executable, "-c", _CONNECT_AS_OTHER, json.dumps(new)],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        finally:
            release.set()
        result = await task
    assert result.ok and result.answer == "Deep learning is...", result.error
    assert tried.returncode == 0, tried.stderr
    assert "connected" not in tried.stdout, tried.stdout  # ccother reached the service
    assert [kind for kind, _ in new] == ["unix"], new  # the forward, and no TCP listener
    assert tried.stdout.split() == ["refused", "unix", "PermissionError"], tried.stdout
    assert [(st.st_mode & 0o777, st.st_uid) for st in folders] == [(0o700, os.geteuid())]
    assert not os.path.exists(os.path.dirname(new[0][1]))  # removed after the request


async def test_the_launch_panes_resend_goes_through_a_fresh_forward_each_time(sim_cluster, service):
    """The TUI's ``p`` (``LaunchSource.ask``) re-sends through the shared pool: each request
    gets its own private forward, removed after it."""
    from console.ui.launch_source import LaunchSource
    from console.ui.sources import SharedPool

    shared = SharedPool(options(sim_cluster))
    source = LaunchSource(shared)
    target = SmokeTarget(sim_cluster.hosts[0], "127.0.0.1", service, "completions", "m")
    try:
        for prompt in ("one", "two"):
            result = await source.ask(target, prompt)
            assert result.ok and result.answer == "Deep learning is...", result.error
    finally:
        await shared.aclose()
    assert [body["prompt"] for _, body in _Handler.seen] == ["one", "two"]

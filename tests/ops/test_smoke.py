"""The first request: a streamed OpenAI-compatible completion through an SSH local port
forward to the first server (the sim accepts direct-tcpip to loopback like sshd)."""

from __future__ import annotations

import json
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

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, body))
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

"""What the fake serving tools share (``mindieservice_daemon``, ``vllm serve``): the join of the
servers over TCP, the OpenAI-compatible HTTP endpoint of the first server, and the answers.

Stdlib only (socket, threading, http.server, json): one process per simulated server.

Join: the first server listens at the master address and port; every other server connects
(retrying forever, like the real tools: a server that never comes makes the service hang) and
sends one JSON line announcing its identity and the flags/config it was started with. The
master's ``check`` answers ``None`` (accepted), ``("reject", text)`` (that server is told why
and exits 1, the master keeps waiting) or ``("fatal", text)`` (the master prints it and exits 1,
as vLLM's head does). When every expected identity has joined, the master sends
``{"ready": true}`` to all. Afterwards each side watches the other: a joined server that dies
ends the master, a master that dies ends the joined servers.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RETRY_S = 0.2
LINE_CAP = 65536
Verdict = tuple[str, str] | None


def say(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text if text.endswith("\n") else text + "\n")
    stream.flush()


def load_state(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def on_server(path: str) -> str:
    """A real absolute path as the simulated server sees it: under ``$CLUSTER_CONSOLE_ROOT``
    when it exists there (the sim's install folders, weights), else the path itself (files the
    console uploaded, which live in the real file system)."""
    root = os.environ.get("CLUSTER_CONSOLE_ROOT", "")
    if root and path.startswith("/") and not path.startswith(root.rstrip("/") + "/"):
        rooted = root.rstrip("/") + path
        if os.path.lexists(rooted):
            return rooted
    return path


# --- the join -------------------------------------------------------------------------------


def _send(sock: socket.socket, doc: dict[str, Any]) -> None:
    sock.sendall((json.dumps(doc) + "\n").encode())


def _recv(sock: socket.socket, buf: bytearray) -> dict[str, Any] | None:
    """One JSON line (None at EOF or on a broken line)."""
    while b"\n" not in buf:
        if len(buf) > LINE_CAP:
            return None
        try:
            chunk = sock.recv(4096)
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


class Master:
    """The first server's side of the join."""

    def __init__(self, host: str, port: int, expected: set[str], check: Callable[[dict[str, Any]], Verdict]) -> None:
        self.expected = set(expected)
        self.check = check
        self.joined: dict[str, socket.socket] = {}
        self.listener = socket.create_server((host, port), reuse_port=False)

    def wait(self, on_wait: Callable[[set[str]], None] | None = None, every_s: float = 10.0) -> None:
        """Accept servers until every expected identity joined (forever if one never does).
        Each connection is greeted in its own thread: one that connects and says nothing holds
        up no one else."""
        done, lock = threading.Event(), threading.Lock()

        def greet(conn: socket.socket) -> None:
            conn.settimeout(30)
            hello = _recv(conn, bytearray())
            if hello is None:
                conn.close()
                return
            with lock:
                verdict = self.check(hello)
                if verdict is not None and verdict[0] == "fatal":
                    say(verdict[1], err=True)
                    self.close()
                    os._exit(1)
                if verdict is not None:
                    _send(conn, {"error": verdict[1]})
                    conn.close()
                    return
                _send(conn, {"ok": True})
                conn.settimeout(None)
                for ident in hello.get("ids", []):
                    self.joined[str(ident)] = conn
                if not self.expected - set(self.joined):
                    done.set()

        def accept() -> None:
            while not done.is_set():
                try:
                    conn, _ = self.listener.accept()
                except OSError:
                    return
                threading.Thread(target=greet, args=(conn,), daemon=True).start()

        if not self.expected:
            return
        threading.Thread(target=accept, daemon=True).start()
        while not done.wait(every_s):
            if on_wait is not None:
                with lock:
                    missing = self.expected - set(self.joined)
                on_wait(missing)
        self.listener.close()
        for conn in set(self.joined.values()):
            _send(conn, {"ready": True})

    def watch(self, on_death: Callable[[str], None]) -> None:
        """A thread per joined server: its connection closing means it died."""
        for conn in set(self.joined.values()):
            ids = sorted(i for i, c in self.joined.items() if c is conn)
            threading.Thread(target=_watch, args=(conn, lambda ids=ids: on_death(",".join(ids))), daemon=True).start()

    def close(self) -> None:
        for conn in set(self.joined.values()):
            conn.close()
        self.listener.close()


def _watch(conn: socket.socket, died: Callable[[], None]) -> None:
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass
    died()


def join(host: str, port: int, hello: dict[str, Any]) -> tuple[socket.socket, str | None]:
    """Connect to the master (retrying forever), announce ``hello``; (socket, error or None)."""
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=5)
        except OSError:
            time.sleep(RETRY_S)
            continue
        buf = bytearray()
        _send(sock, hello)
        answer = _recv(sock, buf)
        if answer is None:
            sock.close()
            time.sleep(RETRY_S)
            continue
        if "error" in answer:
            return sock, str(answer["error"])
        sock.settimeout(None)
        ready = _recv(sock, buf)
        if ready is None:
            return sock, "the master closed the connection before the service was ready"
        return sock, None


def wait_master_gone(sock: socket.socket) -> None:
    _watch(sock, lambda: None)


def hang() -> None:
    """Never join (the ``serve_no_join`` fault): sleep until killed."""
    while True:
        time.sleep(3600)


# --- answers --------------------------------------------------------------------------------

_KNOWN = {
    "what's deep learning?": (
        "Deep learning is a branch of machine learning that trains neural "
        "networks with many layers on large amounts of data, so that each "
        "layer learns features of the input at a higher level of abstraction."
    ),
}
_FILLER = (
    "the model answers every prompt with the same words each time so tests can compare "
    "them and a cluster of simulated servers can say something without any weights"
)
_WORDS = _FILLER.split()


def answer_words(prompt: str, max_tokens: int) -> tuple[list[str], str]:
    """Deterministic words for a prompt (one word = one token) and the finish reason."""
    known = _KNOWN.get(prompt.strip().lower())
    if known is not None:
        words = known.split()
    else:
        seed = hashlib.sha256(prompt.encode()).digest()
        words = [_WORDS[b % len(_WORDS)] for b in seed[:24]]
    if max_tokens < len(words):
        return words[:max_tokens], "length"
    return words, "stop"


def _prompt_of(body: dict[str, Any], chat: bool) -> str:
    if not chat:
        prompt = body.get("prompt", "")
        if isinstance(prompt, list):
            prompt = " ".join(str(p) for p in prompt)
        return str(prompt)
    parts = []
    for msg in body.get("messages") or []:
        if isinstance(msg, dict) and isinstance(msg.get("content"), str):
            parts.append(msg["content"])
    return parts[-1] if parts else ""


class Service:
    """What the HTTP endpoint serves, and the crash fault."""

    def __init__(self, model: str, owner: str, crash_after: int | None, on_crash: Callable[[], None]) -> None:
        self.model = model
        self.owner = owner
        self.crash_after = crash_after
        self.on_crash = on_crash
        self.served = 0
        self.lock = threading.Lock()
        self.created = int(time.time())

    def take(self) -> bool:
        """Count a completion request; False when the service crashes on this one."""
        with self.lock:
            if self.crash_after is not None and self.served >= self.crash_after:
                return False
            self.served += 1
            return True


class _Handler(BaseHTTPRequestHandler):
    server_version = "uvicorn"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    service: Service

    def log_message(self, format: str, *args: Any) -> None:
        code = args[1] if len(args) > 1 else ""
        phrase = HTTPStatus(int(code)).phrase if str(code).isdigit() else ""
        say(
            f'INFO:     {self.client_address[0]}:{self.client_address[1]} - "{self.requestline}" '
            f"{code} {phrase}".rstrip()
        )

    def _json(self, status: int, doc: Any) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._json(status, {"object": "error", "message": message, "type": kind, "param": None, "code": status})

    def do_GET(self) -> None:
        svc = self.service
        if self.path == "/health":
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()
        elif self.path == "/v1/models":
            self._json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": svc.model,
                            "object": "model",
                            "created": svc.created,
                            "owned_by": svc.owner,
                            "root": svc.model,
                            "parent": None,
                        }
                    ],
                },
            )
        else:
            self._error(404, "Not Found", "NotFoundError")

    def do_POST(self) -> None:
        chat = self.path == "/v1/chat/completions"
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            self._error(404, "Not Found", "NotFoundError")
            return
        try:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(min(length, 1 << 20)) or b"{}")
            if not isinstance(body, dict):
                raise TypeError("body is not an object")
            max_tokens = int(body.get("max_tokens") or 16)
        except (ValueError, TypeError) as exc:
            self._error(400, f"invalid request: {exc}", "BadRequestError")
            return
        svc = self.service
        if body.get("model") not in (None, svc.model):
            self._error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
            return
        if not svc.take():
            self._error(
                500,
                "EngineCore encountered an issue. See stack trace (above) for the root cause.",
                "InternalServerError",
            )
            self.wfile.flush()
            svc.on_crash()
            return
        words, finish = answer_words(_prompt_of(body, chat), max_tokens)
        ident = ("chatcmpl-" if chat else "cmpl-") + hashlib.sha256(f"{svc.served}".encode()).hexdigest()[:32]
        if body.get("stream"):
            self._stream(ident, words, finish, chat)
        else:
            self._json(200, _whole(ident, svc, words, finish, chat, body))

    def _stream(self, ident: str, words: list[str], finish: str, chat: bool) -> None:
        svc = self.service
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        kind = "chat.completion.chunk" if chat else "text_completion"
        choices: list[dict[str, Any]] = []
        if chat:
            choices.append({"delta": {"role": "assistant", "content": ""}, "finish_reason": None})
        for i, word in enumerate(words):
            text = (" " if i else "") + word
            choices.append(
                {"delta": {"content": text}, "finish_reason": None} if chat else {"text": text, "finish_reason": None}
            )
        choices.append({"delta": {}, "finish_reason": finish} if chat else {"text": "", "finish_reason": finish})
        for choice in choices:
            choice = {"index": 0, **choice, "logprobs": None}
            if not chat:
                choice["stop_reason"] = None
            chunk = {"id": ident, "object": kind, "created": int(time.time()), "model": svc.model, "choices": [choice]}
            self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _whole(ident: str, svc: Service, words: list[str], finish: str, chat: bool, body: dict[str, Any]) -> dict[str, Any]:
    text = " ".join(words)
    prompt_tokens = len(_prompt_of(body, chat).split())
    if chat:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": None,
            "finish_reason": finish,
        }
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish, "stop_reason": None}
    return {
        "id": ident,
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": svc.model,
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        },
    }


def http_server(host: str, port: int, service: Service) -> ThreadingHTTPServer:
    """Bind the endpoint (raises OSError when the address is taken); serve with ``serve_forever``."""
    handler = type("Handler", (_Handler,), {"service": service})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server

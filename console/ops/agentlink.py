"""The seam between the launch supervisor and the host agents: one text channel per server.

An ``AgentLink`` is what the supervisor talks to: ``write(line)`` + ``drain()`` towards the
agent, ``async for line in link`` from it, ``write_eof()`` (the agent tears its ranks down
when its stdin closes) and ``close()``. Two implementations:

* ``LocalAgentLink``: the agent as a local subprocess (tests, benchmarks, single machine);
* an SSH ``RemoteProcess`` from ``console.remote`` (``Pool.open_process``) has the same
  shape and is used as is.

Both start the agent the same way: ``python3 -u -S -c BOOTSTRAP`` (``-S``: the agent is
stdlib only, so no ``site`` start-up: the .pth files and sitecustomize of the server's
Python, ~20 ms of CPU a start here and whatever they import, never run in it), then send
``<len>\\n<agent source>`` (filehash_remote.py + hostagent_guard.py + hostagent_base.py + hostagent.py) and the
JSON spec line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

from console.core.errors import ConsoleError
from console.core.lines import LineCutter
from console.core.planning.launch import LaunchPlan, ServerPlan
from console.core.planning.rundir import RUN_MARKER, SERVER_MARKER

#: Reads exactly <len> bytes of source from unbuffered stdin (no read-ahead, so the agent
#: then owns fd 0 from the first byte after the source) and runs it as __main__.
BOOTSTRAP = """import sys
r=sys.stdin.buffer.raw
n=int(r.readline())
s=b""
while len(s)<n:
    c=r.read(n-len(s))
    if not c:sys.exit(90)
    s+=c
exec(compile(s,"cluster-console-hostagent","exec"))"""

LINE_LIMIT = 4 * 1024 * 1024
"""Longest agent line kept whole (characters). The agent cuts rank output into frames of
256 KiB (``hostagent.MAX_CHUNK``): at most ~1.5 MiB of JSON even when every byte is escaped.
A longer line (a login script gone wild, a broken agent) is cut, never buffered whole."""
STDERR_KEEP = 64 * 1024
READ_CHUNK = 65536


class AgentLink(Protocol):
    host: str

    def write(self, text: str) -> None: ...

    async def drain(self) -> None: ...

    def write_eof(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[str]: ...

    async def close(self) -> None: ...


Opener = Callable[[ServerPlan], Awaitable[AgentLink]]


#: The agent program = these stdlib files, in this order, as one text.
AGENT_PARTS = ("filehash_remote.py", "hostagent_guard.py", "hostagent_base.py", "hostagent.py")


@lru_cache(maxsize=1)
def agent_source() -> str:
    folder = resources.files("console.ops")
    text = "\n".join(folder.joinpath(name).read_text(encoding="utf-8") for name in AGENT_PARTS)
    text.encode("ascii")  # the length prefix counts bytes == characters
    return text


def agent_command(python: str = "python3") -> str:
    """The remote command line that starts an agent (every word quoted)."""
    return f"{shlex.quote(python)} -u -S -c {shlex.quote(BOOTSTRAP)}"


def spec_for(
    plan: LaunchPlan, server: ServerPlan, *, heartbeat_s: float, files: dict[str, str] | None = None
) -> dict[str, Any]:
    """This server's job. ``files``: uploaded path -> sha256, checked again before GO."""
    # without a run id (a plan never bound by ``launch``) the markers are not unique: no sweep
    markers = [[RUN_MARKER, plan.run_id], [SERVER_MARKER, server.server_id]] if plan.run_id else []
    return {
        "t": "spec",
        "server_id": server.server_id,
        "prelude": plan.prelude,
        "exec_command": plan.exec_command,
        "barrier": plan.barrier,
        "release_rt": plan.realtime_release,
        "grace_s": plan.grace_s,
        "heartbeat_s": heartbeat_s,
        "ranks": [{"rank": r.rank, "env": r.env, "command": r.command} for r in server.ranks],
        "markers": markers,
        "files": dict(files or {}),
        "run_dir": server.run_dir if server.run_dir.startswith("/") else "",
        "keep": plan.keep_remote,
        # an explicit rank table this launch created there: removed with the run folder
        "remove_files": [plan.remote_ranktable] if plan.remote_ranktable and server.ranktable_created else [],
    }


def hello_payload(spec: dict[str, Any]) -> str:
    """Everything the console writes before GO: source, then the spec line."""
    source = agent_source()
    return f"{len(source)}\n{source}{json.dumps(spec, separators=(',', ':'))}\n"


class LocalAgentLink:
    """The host agent as a local child process (its own session, like an SSH session)."""

    def __init__(self, host: str, proc: asyncio.subprocess.Process) -> None:
        self.host = host
        self.proc = proc
        self.stderr_text = ""
        self._stderr_task = asyncio.ensure_future(self._read_stderr())

    @classmethod
    async def start(cls, host: str, python: str = sys.executable) -> LocalAgentLink:
        proc = await asyncio.create_subprocess_exec(
            python,
            "-u",
            "-S",
            "-c",
            BOOTSTRAP,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        return cls(host, proc)

    async def _read_stderr(self) -> None:
        """The agent's own stderr (a traceback): its last STDERR_KEEP bytes."""
        assert self.proc.stderr is not None
        data = b""
        while chunk := await self.proc.stderr.read(READ_CHUNK):
            data = (data + chunk)[-STDERR_KEEP:]
        self.stderr_text = data.decode("utf-8", "replace")

    def write(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode("utf-8"))

    async def drain(self) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.drain()

    def write_eof(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(Exception):
            self.proc.stdin.close()

    async def __aiter__(self) -> AsyncIterator[str]:
        """Lines without their newline, each at most LINE_LIMIT bytes (then cut)."""
        assert self.proc.stdout is not None
        cutter: LineCutter[bytes] = LineCutter(LINE_LIMIT)
        while chunk := await self.proc.stdout.read(READ_CHUNK):
            for line in cutter.feed(chunk):
                yield line.decode("utf-8", "replace")
        for line in cutter.end():
            yield line.decode("utf-8", "replace")

    async def close(self) -> None:
        self.write_eof()
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._stderr_task, 5)


async def close_links(links: Iterable[AgentLink], timeout: float = 10.0) -> None:
    """EOF to every agent (it stops its ranks and says bye), then close every channel; a
    channel already gone or slow to close (``timeout`` s) does not stop the others."""
    links = list(links)
    for link in links:
        link.write_eof()
    await asyncio.gather(*(_close(link, timeout) for link in links), return_exceptions=True)


async def _close(link: AgentLink, timeout: float) -> None:
    with contextlib.suppress(ConsoleError, OSError):
        await asyncio.wait_for(link.close(), timeout)


def local_opener(python: str = sys.executable) -> Opener:
    async def open_local(server: ServerPlan) -> AgentLink:
        return await LocalAgentLink.start(server.host, python)

    return open_local


def ssh_opener(pool: Any, python: str = "python3") -> Opener:
    """Agents over SSH: one ``Pool.open_process`` channel per server."""

    async def open_ssh(server: ServerPlan) -> AgentLink:
        return await pool.open_process(server.host, agent_command(python), line_limit=LINE_LIMIT)

    return open_ssh

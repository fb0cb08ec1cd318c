"""Collecting a command's output for ``Pool.run`` (bounded by its cap and the pool's budget)
and pumping a streamed command's lines into a queue for ``Pool.stream``."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncssh

from .budget import Share
from .process import READ_CHUNK, StreamLine, read_lines


class TooLarge(Exception):
    pass


async def collect(proc: asyncssh.SSHClientProcess, cap: int, share: Share) -> tuple[bytes, bytes]:
    """stdout and stderr (bytes) until the channel closes; ``TooLarge`` past ``cap`` bytes or
    when the pool's budget ends this command (``share.ended``: what it kept is dropped then)."""
    total = 0
    out: list[bytes] = []
    err: list[bytes] = []
    ended = asyncio.Event()

    def evicted() -> None:  # another command's take ended ours: free the memory now
        out.clear()
        err.clear()
        ended.set()

    share.on_evict = evicted

    async def drain(reader: asyncssh.SSHReader, sink: list[bytes]) -> None:
        nonlocal total
        while chunk := await reader.read(READ_CHUNK):
            total += len(chunk)
            if total > cap:
                raise TooLarge(f"more than {cap} bytes on stdout and stderr (SSHOptions.output_limit)")
            if not share.take(len(chunk)):
                raise TooLarge(share.ended or "")
            sink.append(chunk)

    tasks = [asyncio.ensure_future(drain(proc.stdout, out)), asyncio.ensure_future(drain(proc.stderr, err))]
    watch = asyncio.ensure_future(ended.wait())
    pending: set[asyncio.Future[Any]] = {*tasks, watch}
    try:
        while not all(task.done() for task in tasks):
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if share.ended is not None:
                raise TooLarge(share.ended)
            errors = [task.exception() for task in tasks if task in done]
            for exc in errors:
                if exc is not None:
                    raise exc
    finally:
        for task in (*tasks, watch):
            task.cancel()
    # Both streams are complete: the output is the caller's now, no longer in play in the
    # budget (another command's take cannot end this one while the channel closes).
    share.release()
    await proc.wait_closed()
    if share.ended is not None:  # cannot happen once released; never hand back emptied output
        raise TooLarge(share.ended)
    return b"".join(out), b"".join(err)


async def pump(reader: asyncssh.SSHReader, name: str, queue: asyncio.Queue, share: Share) -> None:
    """Lines of ``reader`` into ``queue``, each taken from ``share`` (its length + 1) until its
    reader takes it; stops when the budget ends the stream (``share.on_evict`` says so)."""
    try:
        async for line in read_lines(reader):
            if not share.take(len(line) + 1):
                return
            await queue.put(StreamLine(name, line))  # type: ignore[arg-type]  # name is "stdout" or "stderr"
    except (asyncssh.Error, OSError) as exc:
        await queue.put(exc)
    await queue.put(None)

"""The user's stop, signal by signal (``StopRequests``), with real host agents as local
subprocesses: INT first, TERM after the grace period, then KILL; stronger requests skip ahead."""

from __future__ import annotations

import asyncio
import sys

import pytest

from console.ops.agentlink import local_opener
from console.ops.launch_events import JobFinished, RankExited, RankLine
from console.ops.launch_stop import StopRequests
from console.ops.supervisor import Supervisor
from tests.ops.test_supervisor import plan_for

STUBBORN = """import signal, time
def said(n, _):
    print("got", signal.Signals(n).name, flush=True)
signal.signal(signal.SIGINT, said)
signal.signal(signal.SIGTERM, said)
print("up", flush=True)
while True:
    time.sleep(0.02)
"""


async def _run_until_up_then(stops: StopRequests, first: str, plan) -> list:
    events = []
    sup = Supervisor(plan, local_opener(), heartbeat_s=60, stop=stops, stop_wait_s=5.0)
    async for ev in sup.events():
        events.append(ev)
        if isinstance(ev, RankLine) and ev.text == "up":
            stops.request(first, "interrupted (SIGINT)")
    return events


async def test_int_then_term_after_the_grace_then_kill() -> None:
    plan = plan_for(1, [sys.executable, "-c", STUBBORN], grace_s=2.0)
    events = await asyncio.wait_for(_run_until_up_then(StopRequests(), "INT", plan), 60)
    said = [ev.text for ev in events if isinstance(ev, RankLine)]
    assert said == ["up", "got SIGINT", "got SIGTERM"]
    [exited] = [ev for ev in events if isinstance(ev, RankExited)]
    assert (exited.code, exited.signal) == (137, 9)
    summary = events[-1].summary
    assert isinstance(events[-1], JobFinished) and summary.root_cause.kind == "stopped"
    assert summary.root_cause.reason == "interrupted (SIGINT)"


async def test_a_stronger_request_skips_ahead() -> None:
    # grace 600 s: only the KILL request can end the rank within the test's time
    plan = plan_for(1, [sys.executable, "-c", STUBBORN], grace_s=600)
    stops = StopRequests()

    async def run() -> list:
        events = []
        sup = Supervisor(plan, local_opener(), heartbeat_s=60, stop=stops, stop_wait_s=5.0)
        async for ev in sup.events():
            events.append(ev)
            if isinstance(ev, RankLine) and ev.text == "up":
                stops.request("INT")
            elif isinstance(ev, RankLine) and ev.text == "got SIGINT":
                stops.request("INT")  # not stronger: ignored
                stops.request("KILL")
        return events

    events = await asyncio.wait_for(run(), 60)
    assert [ev.text for ev in events if isinstance(ev, RankLine)] == ["up", "got SIGINT"]
    [exited] = [ev for ev in events if isinstance(ev, RankExited)]
    assert (exited.code, exited.signal) == (137, 9)


@pytest.mark.parametrize(
    ("sent", "signal", "step"),
    [
        (None, "SIGINT", "INT"),
        ("INT", "SIGINT", "TERM"),
        ("TERM", "SIGINT", "KILL"),
        ("KILL", "SIGINT", None),
        (None, "SIGTERM", "TERM"),
        (None, "SIGHUP", "TERM"),
        ("INT", "SIGHUP", "TERM"),
        ("TERM", "SIGTERM", "KILL"),
    ],
)
def test_next_step(sent, signal, step) -> None:
    stops = StopRequests()
    if sent:
        stops.request(sent)
    assert stops.next_step(signal) == step


def test_bad_signal_is_refused() -> None:
    with pytest.raises(ValueError, match="HUP"):
        StopRequests().request("HUP")

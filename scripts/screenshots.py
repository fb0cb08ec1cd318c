#!/usr/bin/env python3
"""Regenerate ``screenshots/*.svg`` from the real console on the demo cluster.

    python3 scripts/screenshots.py [--out screenshots] [--size 120x34] [--only ping,help]

Starts the simulated cluster exactly as ``cluster-console demo`` does (``DemoCluster``: the
MindIE guide's 2 x 8 A2 cluster with its lossy card pair), runs the app headless with
``App.run_test`` and drives it with the Pilot like a user: discover on Nodes, run the ping
sweep, open the lossy pair's card matrix, build the rank table, show Launch, a job failing
across the lossy pair with its Diagnosis, and the help.
One SVG per shot. Notifications are cleared before each shot so reruns give the same
pictures. A shot that fails is reported and skipped; the others are still taken (exit 1).

To add a shot: write ``async def prepare(pilot) -> None`` that brings the app to the state
to show, and append ``Shot("name", prepare)`` to ``SHOTS``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.cli.demo import DemoCluster, demo_app, demo_spec  # noqa: E402

WAIT_S = 120.0
CLUSTER_DIR: list[Path] = []  # the demo cluster's folder, set in main()


async def until(pilot: Any, condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> None:
    """Let the app run until ``condition()`` holds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def nodes(pilot: Any) -> None:
    app = pilot.app
    await pilot.press("1", "d")
    await until(
        pilot,
        lambda: app.inventory is not None and app.inventory.servers and all(s.devices for s in app.inventory.servers),
        "discovery",
    )
    await until(pilot, lambda: not app.screen.model.pending, "discovery to finish")


async def ping(pilot: Any) -> None:
    app = pilot.app
    await pilot.press("2")
    screen = app.screen
    if not screen.model.results:
        await pilot.press("r")
        await until(pilot, lambda: screen.model.running or screen.model.results, "the sweep to start")
        await until(pilot, lambda: not screen.model.running, "the ping sweep")
    if screen.drill is not None:
        await pilot.press("escape")


async def ping_cards(pilot: Any) -> None:
    await ping(pilot)
    screen = pilot.app.screen
    worst = screen.model.problem_pairs()
    pair = worst[0][0] if worst else tuple(screen.model.hosts[:2])
    screen.open_pair(*pair)
    await pilot.pause()
    cards = screen.query_one("#card-matrix")
    bad = [
        (i, j)
        for i in range(cards.row_count)
        for j in range(len(cards.columns))
        if str(cards.get_cell_at((i, j))).strip() not in ("0%", "-")
    ]
    if bad:
        cards.cursor_coordinate = bad[0]


async def ranktable(pilot: Any) -> None:
    app = pilot.app
    await pilot.press("escape", "3")
    screen = app.screen
    if screen.model.table is None:
        await pilot.press("b")
        await until(pilot, lambda: screen.model.table is not None, "the rank table build")


DEMO_JOB = (
    "python3 -c \"import os, sys, time; r = int(os.environ['RANK']); "
    "print('loading weights', flush=True); "
    "print('rank', r, 'device', os.environ['DEVICE_ID'], 'ready', flush=True); "
    "time.sleep(1.5 if r == 5 else 30); "
    "sys.exit('HCCL init failed on device ' + os.environ['DEVICE_ID'] if r == 5 else 0)\""
)


async def launch(pilot: Any) -> None:
    """Save the built rank table, then fill the Launch form with a 16-rank job."""
    from textual.widgets import Input, Select

    app = pilot.app
    if "ranktable" not in app.panes or app.panes["ranktable"].model.table is None:
        if app.inventory is None:
            await nodes(pilot)
        await ranktable(pilot)
    table_pane = app.panes["ranktable"]
    if app.ranktable.data is None:
        table_pane.save_to(table_pane.model.path or CLUSTER_DIR[0] / "hccl.json")
        await until(pilot, lambda: app.ranktable.data is not None, "the rank table to be saved")
    await pilot.press("4")
    screen = app.screen
    # the demo's Launch pane comes with the probe ready; the screenshots show a custom job
    screen.query_one("#launch-profile", Select).value = "custom"
    screen.query_one("#launch-env", Input).value = ""
    await until(
        pilot, lambda: screen.setup.profile is not None and screen.setup.profile.name == "custom", "the custom profile"
    )
    screen.query_one("#launch-command", Input).value = DEMO_JOB
    await until(pilot, lambda: screen.plan is not None, "the launch plan")


async def launch_run(pilot: Any) -> None:
    """Launch the job: rank 5 fails, the others are torn down, the root cause is shown."""
    app = pilot.app
    if app.screen.PANE != "launch" or app.screen.plan is None:
        await launch(pilot)
    screen = app.screen
    await pilot.press("f5")
    await until(pilot, lambda: screen.running, "the launch to start")
    await until(pilot, lambda: not screen.running, "the job to end")
    await pilot.press("f3")


DIAGNOSIS_JOB = "ccsim-hccl-init && exec sleep 60"


async def launch_diagnosis(pilot: Any) -> None:
    """A job across the planted lossy card pair (after the ping sweep that found it): HCCL's
    init times out on both ends, the job fails, and the Diagnosis tab says why."""
    from textual.widgets import Input

    from console.ui.models.diagnosis import DiagnosisState

    app = pilot.app
    if app.inventory is None:
        await nodes(pilot)
    await ping(pilot)
    await launch(pilot)
    screen = app.screen
    screen.query_one("#launch-command", Input).value = DIAGNOSIS_JOB
    await until(
        pilot,
        lambda: screen.plan is not None and "ccsim-hccl-init" in screen.plan.servers[0].ranks[0].command,
        "the plan",
    )
    await pilot.press("f5")
    await until(pilot, lambda: screen.running, "the launch to start")
    await until(pilot, lambda: not screen.running, "the job to end")
    await until(
        pilot, lambda: screen.model.diagnosis.state in (DiagnosisState.DONE, DiagnosisState.ERROR), "the diagnosis"
    )
    await pilot.press("f7")


async def help_keys(pilot: Any) -> None:
    await pilot.press("2", "question_mark")


@dataclass(frozen=True)
class Shot:
    name: str
    prepare: Callable[[Any], Awaitable[None]]


SHOTS = [
    Shot("nodes", nodes),
    Shot("ping", ping),
    Shot("ping-drilldown", ping_cards),
    Shot("ranktable", ranktable),
    Shot("launch", launch),
    Shot("launch-run", launch_run),
    Shot("launch-diagnosis", launch_diagnosis),
    Shot("help", help_keys),
]


async def take(pilot: Any, shot: Shot, out: Path) -> None:
    from textual.screen import ModalScreen

    app = pilot.app
    while isinstance(app.screen, ModalScreen):  # a dialog left by the previous shot
        app.pop_screen()
        await pilot.pause()
    await shot.prepare(pilot)
    await pilot.wait_for_scheduled_animations()
    app.clear_notifications()
    await pilot.pause()
    path = app.save_screenshot(f"{shot.name}.svg", str(out))
    print(f"wrote {Path(path).relative_to(ROOT) if Path(path).is_relative_to(ROOT) else path}")


async def main(out: Path, size: tuple[int, int], only: set[str]) -> int:
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    with DemoCluster(demo_spec()) as cluster:
        CLUSTER_DIR[:] = [Path(cluster.sim.workdir)]
        app = demo_app(cluster)
        app.sub_title = "demo: 2 simulated servers"
        async with app.run_test(size=size) as pilot:
            for shot in SHOTS:
                if only and shot.name not in only:
                    continue
                try:
                    await take(pilot, shot, out)
                except Exception:
                    failed.append(shot.name)
                    print(f"shot {shot.name!r} failed:\n{traceback.format_exc()}", file=sys.stderr)
            await pilot.press("ctrl+q")
    if failed:
        print(f"failed shots: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "screenshots", help="output folder")
    p.add_argument("--size", default="120x34", help="terminal COLUMNSxLINES (120x34)")
    p.add_argument("--only", default="", help="comma-separated shot names: " + ", ".join(s.name for s in SHOTS))
    return p.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    cols, _, lines = args.size.partition("x")
    wanted = {n.strip() for n in args.only.split(",") if n.strip()}
    raise SystemExit(asyncio.run(main(args.out, (int(cols), int(lines)), wanted)))

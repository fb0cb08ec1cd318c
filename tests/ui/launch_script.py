"""A launch source that plays a fixed list of events (no processes, no clocks): the snapshot
test's job. Same shape as ``console.ui.launch_source.LaunchSource``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from console.core.profiles import Profile
from console.ops.launch_events import (
    JobFinished,
    JobSummary,
    RankExited,
    RankLine,
    RankStarted,
    RootCause,
    Stage,
    StageName,
    Teardown,
)

RUN_DIR = "runs/20260101-000000-demo"


class ScriptedLaunch:
    def __init__(self, events: list[Any], profiles: tuple[str, ...] = ("custom",)) -> None:
        self.events = events
        self.profiles = list(profiles)
        self.plan_options: dict[str, Any] = {}
        self.calls = 0

    def profile_names(self) -> list[str]:
        return self.profiles

    def load_profile(self, name: str) -> Profile:
        return Profile(name=name)

    async def preflight(self, plan: Any, table: Any, inventory: Any = None) -> list[Any]:
        return []

    async def run(
        self, plan: Any, table: Any, data: bytes, *, inventory: Any = None, stop: Any = None
    ) -> AsyncIterator[Any]:
        self.calls += 1
        for event in self.events:
            yield event


def seed_failure_events(world: int = 8, failing: int = 3) -> list[Any]:
    """8 ranks load, step, rank 3 raises and exits 1, the rest are killed (143)."""
    servers = ["90.90.152.89"] * 4 + ["90.90.152.91"] * 4
    events: list[Any] = [
        Stage(StageName.RECORD, f"run record {RUN_DIR}", run_dir=RUN_DIR),
        Stage(StageName.AGENTS, "host agents started on 2 servers"),
        Stage(StageName.GO, f"all {world} ranks at the barrier; GO sent to 2 servers"),
    ]
    events += [RankStarted(r, servers[r], 1.0, 1000 + r) for r in range(world)]
    events += [RankLine(r, "o", "loading weights") for r in range(world)]
    events += [RankLine(r, "o", f"step 1 loss {2.5 + r / 100:.2f}") for r in range(world)]
    last = ("Traceback (most recent call last):", "RuntimeError: HCCL timeout (EI0006)")
    events += [RankLine(failing, "e", text) for text in last]
    root = RootCause("exited with code 1", servers[failing], servers[failing], failing, 1, None, last)
    events += [RankExited(failing, servers[failing], 1), Teardown(root)]
    codes = {r: (1 if r == failing else 143) for r in range(world)}
    events += [RankExited(r, servers[r], 143, 15) for r in range(world) if r != failing]
    events.append(
        JobFinished(
            JobSummary(
                ok=False, world_size=world, exit_codes=codes, run_dir=RUN_DIR, root_cause=root, lines=2 * world + 2
            )
        )
    )
    return events

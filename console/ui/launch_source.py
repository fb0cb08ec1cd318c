"""The Launch pane's source (``Sources.launch``): profiles, server checks and the launch itself,
all through ``console.ops`` and the app's one shared SSH pool. Tests and benchmarks inject
their own object of the same shape (or this one with another pool / run folder).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.ops.launch_stop import StopRequests


@dataclass
class LaunchSource:
    shared: Any = None
    """A ``SharedPool`` (agents over SSH); None runs every server's ranks on this machine."""
    run_base: Path = Path("runs")
    """Where run records go (``runs/<id>/rank-<r>.log``...)."""
    plan_options: dict[str, Any] = field(default_factory=dict)
    """Extra ``build_launch_plan`` keywords (``remote_ranktable``, ``hosts``, ...)."""
    check: bool = True
    """Run the preflight checks before launching."""
    stall: Any = None
    """``console.ops.launch_stall.StallOptions`` of the pane's launches (default: stalled
    after 60 s, no teardown)."""
    form: dict[str, str] = field(default_factory=dict)
    """What the Launch pane's form starts with: ``profile``, ``command``, ``env``."""
    _plans: dict[str, Any] = field(default_factory=dict, repr=False)
    """run id -> the plan launched, kept for the evidence step (never re-read from disk)."""

    def profile_names(self) -> list[str]:
        """Blocking (reads the user's profile folder): call in a thread."""
        from console.ops.profiles import profile_names

        return profile_names()

    def load_profile(self, name: str) -> Any:
        """Blocking: call in a thread."""
        from console.ops.profiles import load_profile

        return load_profile(name)

    async def _pool(self) -> Any:
        return await self.shared.get() if self.shared is not None else None

    async def preflight(self, plan: Any, table: Any, inventory: Any = None) -> list[Any]:
        """``console.ops.launch_checks.preflight`` (servers only; local runs need none)."""
        from console.ops.launch_checks import check_table, preflight

        pool = await self._pool()
        if pool is None:
            return check_table(table)
        return await preflight(pool, plan, table, inventory)

    async def run(
        self, plan: Any, table: Any, data: bytes, *, inventory: Any = None, stop: StopRequests | None = None
    ) -> AsyncGenerator[Any, None]:
        """``console.ops.launch.launch`` events; closing this generator tears the job down.
        A request on ``stop`` (INT, then TERM, KILL: as the CLI's Ctrl-C) stops the job too,
        but the events go on to ``JobFinished`` (the ranks' exit codes and signals, root
        cause of kind "stopped")."""
        from console.ops.launch import launch

        pool = await self._pool()
        if getattr(plan, "run_id", None):
            self._plans[plan.run_id] = plan
        if getattr(plan, "serving", ""):
            from console.core.serving.openai import DEFAULT_PROMPT
            from console.ops.serving import serving_run

            profile = await asyncio.to_thread(self.load_profile, plan.profile)
            events = serving_run(
                plan,
                table,
                data,
                profile=profile,
                pool=pool,
                prompt=DEFAULT_PROMPT,
                stop=stop,
                run_base=self.run_base,
                inventory=inventory,
                check=self.check,
            )
        else:
            events = launch(
                plan,
                table,
                data,
                pool=pool,
                run_base=self.run_base,
                inventory=inventory,
                check=self.check,
                stop=stop,
                stall=self.stall,
            )
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def ask(self, target: Any, prompt: str) -> Any:
        """One more request to a ready service (``console.ops.smoke.first_request``)."""
        from console.ops.smoke import first_request

        return await first_request(await self._pool(), target, prompt)

    async def diagnose(self, run_dir: str, *, since: float, inventory: Any = None, ping: Any = None) -> Any:
        """The job's evidence fetched over the shared pool into its run record (servers only),
        then ``diagnose_path`` on it (file reads in a thread) linked to the app's inventory and
        last ping sweep: a ``console.core.diagnosis.Diagnosis``. Servers that give no evidence
        are named in its notes."""
        from console.core.errors import ConsoleError
        from console.core.secrets import secret_values
        from console.ops.diagnosis_files import diagnose_path
        from console.ops.evidence import collect

        pool = await self._pool()
        notes = []
        if pool is not None:
            kept = self._plans.get(Path(run_dir).name)
            doc = kept.model_dump(mode="json") if kept is not None else None  # else plan.json, checked
            try:
                got = await collect(pool, run_dir, doc, since=since, secrets=secret_values(doc) if doc else ())
                notes = [f"no evidence from {g.server}: {g.error}" for g in got if g.error]
            except ConsoleError as exc:
                notes = [f"no evidence: {str(exc).splitlines()[0]}"]
        diag, _ = await asyncio.to_thread(diagnose_path, run_dir, ping_matrix=ping, inventory=inventory)
        diag.notes += notes
        return diag

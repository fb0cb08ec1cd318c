"""Demo scenarios that end in a diagnosis (``demo --headless --scenario NAME``): discover, ping
and the rank table as in the demo, then a launch that fails on a planted fault, the servers'
evidence fetched into its run record, and the diagnosis checked against what was planted.

* ``lossy-launch``: the simulated workload on the first 4 cards of every server, which
  includes the spec's lossy pair; HCCL's init times out on both ends of it (EI0006 with
  LINK_ERROR_INFO). Expected: the first cause is that socket timeout between exactly the
  planted cards, shown next to the ping step's loss for that pair.
* ``stuck-server``: a hung NPU on the spec's ``stuck`` server: its ranks never print while the
  others wait for HCCL_CONNECT_TIMEOUT; ``--fail-fast-stall`` semantics (stalled after
  ``STALL_S``) tear the job down at once. Expected: the stall names that server.

The step is ``expected`` when the diagnosis names the planted fault, else ``failed``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from console.core.diagnosis import Diagnosis
from console.ops.demo import WORKLOAD, _Flow

SCENARIO_RANKS = 4
STALL_S = 3.0


class ScenarioFlow(_Flow):
    def steps(self) -> list[tuple[str, Any]]:
        return [*super().steps()[:3], ("launch", self.failing_launch)]

    async def failing_launch(self) -> tuple[str, str, dict]:
        from console.core.planning.launch import build_launch_plan
        from console.core.ranktable import dumps
        from console.ops.evidence import collect
        from console.ops.launch import launch
        from console.ops.launch_events import JobFinished, StallDetected
        from console.ops.launch_stall import StallOptions
        from console.ops.probe import subset_table
        from console.ops.profiles import load_profile
        from console.ops.runrecord import new_run_id

        assert self.table is not None, "the ranktable step came first"
        stuck = self.s.scenario == "stuck-server"
        table = subset_table(self.table, 2 if stuck else SCENARIO_RANKS)
        plan = build_launch_plan(
            table,
            load_profile("custom").model_copy(update={"grace_s": 1.0}),
            args=["bash", "-c", WORKLOAD],
            run_id=new_run_id(),
            remote_ranktable=str(self.s.workdir / "remote" / "ranktable.json"),
            master_port=self.s.master_port,
        )
        since = time.time()
        events = launch(
            plan,
            table,
            dumps(table).encode("utf-8"),
            pool=self.pool,
            run_base=self.s.workdir / "runs",
            stall=StallOptions(stall_s=STALL_S, fail_fast=True),
        )
        summary, stall = None, None
        async with contextlib.aclosing(events):
            async for ev in events:
                if isinstance(ev, StallDetected):
                    stall = ev
                elif isinstance(ev, JobFinished):
                    summary = ev.summary
        data: dict[str, Any] = {"world_size": plan.world_size, "run_dir": summary.run_dir if summary else None}
        if summary is None or summary.ok or not summary.run_dir:
            return "failed", f"the launch was expected to fail on the planted {self.s.scenario}", data
        await collect(self.pool, summary.run_dir, plan.model_dump(mode="json"), since=since)
        diag = self._diagnose(summary.run_dir)
        data["diagnosis"] = diag.to_json()
        data["stall"] = None if stall is None else stall.message
        verdict = self._stuck_verdict(diag) if stuck else self._lossy_verdict(diag)
        return (
            ("expected" if verdict is None else "failed"),
            (
                f"{plan.world_size} ranks on {len(plan.servers)} servers failed as planted: {diag.headline}"
                if verdict is None
                else f"{verdict}; diagnosis: {diag.headline}"
            ),
            data,
        )

    def _diagnose(self, run_dir: str) -> Diagnosis:
        from console.ops.diagnosis_files import diagnose_path

        diag, _ = diagnose_path(run_dir, ping_matrix=self.matrix, inventory=self.inventory)
        return diag

    def _lossy_verdict(self, diag: Diagnosis) -> str | None:
        """None when the first cause is a socket timeout between the planted cards and the
        ping of that pair is shown with its loss; else what is missing."""
        first = diag.first_cause()
        if not self.s.expected_loss:
            return "no lossy pair planted"
        want = self.s.expected_loss[0]
        ends = {(want.src_host, want.src_device), (want.dst_host, want.dst_device)}
        if first is None or first.cause != "socket_timeout":
            return "the first cause is not a socket timeout"
        if {(first.server, first.device_id), (first.remote_server, first.remote_device_id)} != ends:
            return "the socket timeout is not between the planted cards"
        if not any(lk.kind == "ping" and lk.status == "loss" for lk in diag.links):
            return "the ping of that pair is not shown"
        return None

    def _stuck_verdict(self, diag: Diagnosis) -> str | None:
        first = diag.first_cause()
        if first is None or first.cause != "stalled_peer":
            return "the first cause is not the stall"
        if first.server not in self.s.stuck_hosts:
            return f"the stall names {first.server}, not the stuck server"
        return None

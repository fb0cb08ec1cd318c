"""What a serving launch says around its own planned stop (``--smoke-only``), and the command
line each server runs, printed before the launch so operators can compare it with the guide."""

from __future__ import annotations

import json
import sys
from typing import Any

from console.cli._common import warn
from console.cli._launch_output import Printer, event_json
from console.core.planning.launch import LaunchPlan
from console.core.secrets import mask_text, secret_values
from console.core.words import counted
from console.ops.launch_events import RankLine, Teardown


def print_commands(plan: LaunchPlan) -> None:
    """``launch: node01: vllm serve … --headless`` on stderr, one line per server and distinct
    command (secret env values masked)."""
    secrets = secret_values(plan.model_dump(mode="json"))
    for server in plan.servers:
        for command in dict.fromkeys(r.command for r in server.ranks):
            warn(f"launch: {server.server_id}: {mask_text(command, secrets)}")


class PlannedStop:
    """After ``--smoke-only`` got its answer the console stops the job itself: the teardown
    says so (not "stopped by the user"), and after a good answer the ranks' output while they
    stop (engines report their shutdown as errors) is left to the run record, not echoed."""

    def __init__(self, printer: Printer, as_json: bool) -> None:
        self.printer, self.as_json = printer, as_json
        self.started = False
        self.hide_lines = False
        self.hidden: set[int] = set()
        self.count = 0

    def start(self, answered: bool) -> None:
        self.started, self.hide_lines = True, answered
        what = "after the first answer" if answered else "after the failed first request"
        warn(f"launch: stopping the service {what} (--smoke-only)")

    def swallow(self, ev: Any) -> bool:
        """True when ``ev`` was handled here (not to be printed as usual)."""
        if not self.started:
            return False
        if isinstance(ev, Teardown) and ev.root_cause.kind == "stopped":
            self.printer.torn_down = True
            if self.as_json:
                sys.stdout.write(json.dumps(event_json(ev), ensure_ascii=False) + "\n")
            return True
        if isinstance(ev, RankLine) and self.hide_lines:
            if self.as_json:
                sys.stdout.write(json.dumps(event_json(ev), ensure_ascii=False) + "\n")
            elif not ev.partial:
                self.hidden.add(ev.rank)
                self.count += 1
            return True
        return False

    def report(self) -> None:
        if self.count:
            logs = ", ".join(f"rank-{r}.log" for r in sorted(self.hidden))
            warn(
                f"launch: {counted(self.count, 'line')} the ranks printed while stopping are in the run record "
                f"({logs}), not shown"
            )

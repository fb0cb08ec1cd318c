"""The Launch pane's form -> a launch plan and the preflight checklist. Pure (no textual, no
I/O): the app holds the rank table and the ping results, the pane hands them in.

The command line is shell text as typed: it is appended to the profile's command (the
``custom`` profile has none), placeholders ``{rank}`` ``{local_rank}`` ``{device_id}``...
substituted per rank. Env is ``K=V`` words (shell quoting allowed), setup one line each.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import Any

from console.core.errors import ConsoleError, InputError
from console.core.inventory import Inventory
from console.core.pingresults import PingMatrix
from console.core.planning.launch import LaunchPlan, build_launch_plan
from console.core.profiles import Profile, parse_env_items
from console.core.secrets import mask_env
from console.core.words import counted
from console.ui.models.links import lossy_rank_pairs
from console.ui.models.problems import MARKS, ProblemItem

OK, BLOCK, WARN, INFO = "ok", "error", "warning", "info"


MEANING = {
    BLOCK: "blocks the launch: F5 refuses while it stands",
    WARN: "worrying: the launch may go ahead",
    INFO: "to do",
    OK: "fine",
}
HINT_TABLE = "Fix it on the Rank table pane (3) and save: the checklist follows the saved file."
HINT_SERVERS = "From the server checks over SSH (F6, or at launch; launch --no-preflight skips them)."
HINT_CARDS = "Against the last discovery (Nodes pane, 1; d discovers again)."
HINT_PING = "From the last ping sweep (Ping pane, 2; f re-runs the lossy and failed probes)."


def Check(level: str, text: str, code: str = "preflight", *, where: str = "", hint: str = "") -> ProblemItem:
    """One item of the preflight checklist (✔ fine, ! worrying, ✖ blocking, · to do), shown by
    the shared problem list; ``detail`` (shown on selection) says what it means and where
    it comes from."""
    lines = [f"{MARKS.get(level, '·')} {MEANING.get(level, level)}", text]
    if where:
        lines.append(f"where: {where}")
    lines.append(f"check: {code}")
    if hint:
        lines.append(hint)
    return ProblemItem(level, code, text, where, "\n".join(lines))


def _from_diagnostic(p: Any, hint: str) -> ProblemItem:
    """A core ``Diagnostic`` (table problem, server or card check) as a checklist item."""
    where = p.where.path or p.where.host or str(p.where)
    return Check(BLOCK if p.severity == "error" else WARN, p.message, p.code, where=where, hint=hint)


@dataclass(frozen=True)
class Form:
    profile: str
    command: str
    env: str
    setup: str

    def env_items(self) -> dict[str, str]:
        try:
            words = shlex.split(self.env)
        except ValueError as exc:
            raise InputError("cannot read the env line", str(exc), hint="K=V K2='a b'") from None
        return parse_env_items(words, os.environ)  # a bare NAME: the console's environment

    def setup_lines(self) -> list[str]:
        return [line.strip() for line in self.setup.splitlines() if line.strip()]


def _error_text(exc: ConsoleError) -> str:
    parts = [exc.title, exc.detail, f"({exc.hint})" if exc.hint else ""]
    return " ".join(p for p in parts if p).replace("\n", " ")


def make_plan(
    table: Any,
    profile: Profile,
    form: Form,
    options: dict[str, Any] | None = None,
    run_id: str | None = None,
    inventory: Inventory | None = None,
) -> tuple[LaunchPlan | None, str | None]:
    """(plan, None) or (None, why not). ``run_id`` names the run folder (and upload folder).
    Serving profiles: see ``serving_plan``."""
    if profile.serving:
        return serving_plan(table, profile, form, options, run_id, inventory)
    command = form.command.strip()
    if not command and not profile.command:
        return None, "no command: press c and type the command every rank runs"
    combined = " ".join(p for p in (profile.command, command) if p)
    effective = profile.model_copy(
        update={"command": combined, "args_required": "" if command else profile.args_required}
    )
    try:
        return build_launch_plan(
            table, effective, env=form.env_items(), setup=form.setup_lines(), run_id=run_id, **(options or {})
        ), None
    except ConsoleError as exc:
        return None, _error_text(exc)


def serving_plan(
    table: Any,
    profile: Profile,
    form: Form,
    options: dict[str, Any] | None,
    run_id: str | None,
    inventory: Inventory | None,
) -> tuple[LaunchPlan | None, str | None]:
    """vllm-ascend: the command line is ``MODEL [vllm flags]``, dp and tp from the table (tp =
    a server's devices); mindie-service: no command (config.json names the model). {host_ip}
    and {host_nic} come from discovery (the Nodes pane)."""
    from console.core.planning.perserver import facts_from_inventory
    from console.core.serving.plan import check_mindie_table, vllm_setup

    try:
        words = shlex.split(form.command)
    except ValueError as exc:
        return None, f"cannot read the command line: {exc}"
    try:
        extra: dict[str, Any] = {}
        if profile.serving == "vllm-ascend":
            if not words:
                return None, "no model: press c and type the model (and vllm flags)"
            setup = vllm_setup(table, profile, words, tp=None, http_port=None, rpc_port=None)
            extra = {"values": setup.values, "parallel": setup.parallel}
            words = setup.args
        else:
            check_mindie_table(table)
        facts = facts_from_inventory(inventory) if inventory is not None else {}
        return build_launch_plan(
            table,
            profile,
            args=words,
            env=form.env_items(),
            setup=form.setup_lines(),
            run_id=run_id,
            host_facts=facts,
            **extra,
            **(options or {}),
        ), None
    except ConsoleError as exc:
        return None, _error_text(exc)


def checklist(
    *,
    path: Any,
    table_error: str | None,
    table: Any,
    plan: LaunchPlan | None,
    plan_error: str | None,
    profile_error: str | None,
    table_problems: list[Any],
    inventory: Any,
    unsaved: bool,
    remote: list[Any] | None,
    ping: PingMatrix | None = None,
) -> list[ProblemItem]:
    """Everything that would stop (✖) or worry (!) a launch, and what is fine (✔)."""
    out: list[ProblemItem] = []
    if path is None:
        out.append(Check(BLOCK, "no rank table: save one on the Rank table pane (3)", hint=HINT_TABLE))
    elif table_error:
        out.append(Check(BLOCK, f"rank table {path}: {table_error}", hint=HINT_TABLE))
    elif table is not None:
        ranks = sum(len(s.device) for s in table.server_list)
        out.append(Check(OK, f"rank table {path} ({counted(ranks, 'rank')})", hint=HINT_TABLE))
    if unsaved:
        out.append(Check(WARN, "the Rank table pane has unsaved changes: the SAVED file is launched", hint=HINT_TABLE))
    if profile_error:
        out.append(Check(BLOCK, f"profile: {profile_error}"))
    errors = [p for p in table_problems if p.severity == "error"]
    out += [_from_diagnostic(p, HINT_TABLE) for p in errors[:5]]
    if table is not None and not errors:
        out.append(Check(OK, "rank table valid", hint=HINT_TABLE))
    out += _plan_checks(table, plan, plan_error, inventory)
    out += _link_checks(table, plan, ping)
    out += _remote_checks(remote)
    return out


def _link_checks(table: Any, plan: LaunchPlan | None, ping: PingMatrix | None) -> list[ProblemItem]:
    """``!`` for every rank pair of the job whose cards lost packets in the last sweep."""
    if plan is None or ping is None or not ping.results:
        return []
    pairs = [p for p in lossy_rank_pairs(table, ping) if max(p.ranks) < plan.world_size]
    out = [Check(WARN, f"lossy pair inside the job: {p.describe()}", "lossy_pair", hint=HINT_PING) for p in pairs]
    if not pairs:
        out.append(
            Check(
                OK,
                f"no loss between the job's cards in the last ping sweep ({counted(len(ping.results), 'probe')})",
                "lossy_pair",
                hint=HINT_PING,
            )
        )
    return out


def _plan_checks(
    table: Any, plan: LaunchPlan | None, plan_error: str | None, inventory: Inventory | None
) -> list[ProblemItem]:
    out: list[ProblemItem] = []
    if plan_error and table is not None:
        out.append(Check(BLOCK, f"plan: {plan_error}"))
    if plan is None:
        return out
    out.append(Check(OK, f"plan: {counted(plan.world_size, 'rank')} on {counted(len(plan.servers), 'server')}"))
    out += [Check(WARN, w) for w in plan.warnings]
    if inventory is None or not inventory.servers:
        out.append(Check(INFO, "cards not checked against discovery (Nodes pane, d)", hint=HINT_CARDS))
        return out
    from console.ops.launch_checks import check_inventory  # a pure function of the ops layer

    found = check_inventory(plan, inventory)
    out += [_from_diagnostic(p, HINT_CARDS) for p in found]
    if not any(p.severity == "error" for p in found):
        matched = f"cards match the discovery of {counted(len(inventory.servers), 'server')}"
        out.append(Check(OK, matched, hint=HINT_CARDS))
    return out


def _remote_checks(remote: list[Any] | None) -> list[ProblemItem]:
    if remote is None:
        return [Check(INFO, "server checks (python, idle NPUs, master port): F6, or at launch", hint=HINT_SERVERS)]
    out = [_from_diagnostic(p, HINT_SERVERS) for p in remote]
    if not any(p.severity == "error" for p in remote):
        out.append(Check(OK, "servers checked: reachable, python found, NPUs idle, port free", hint=HINT_SERVERS))
    return out


def blocking(checks: list[ProblemItem]) -> list[str]:
    return [c.text for c in checks if c.severity == BLOCK]


def plan_summary(plan: LaunchPlan) -> str:
    """``16 ranks: 127.0.0.11 0-7 · 127.0.0.12 8-15 · master 127.0.0.11:29500``."""
    per_server = " · ".join(
        f"{s.server_id} {s.ranks[0].rank}-{s.ranks[-1].rank}"
        if len(s.ranks) > 1
        else f"{s.server_id} {s.ranks[0].rank}"
        for s in plan.servers[:4]
    )
    more = f" · +{counted(len(plan.servers) - 4, 'server')}" if len(plan.servers) > 4 else ""
    return f"{counted(plan.world_size, 'rank')}: {per_server}{more} · master {plan.master_addr}:{plan.master_port}"


def rank_detail(plan: LaunchPlan, rank: int) -> str:
    """What rank ``rank`` runs: server, command, setup, env (sorted)."""
    server, spec = plan.rank(rank)
    lines = [f"rank {rank} on {server.server_id} (ssh {server.host}), device {spec.device_id}", f"$ {spec.command}"]
    if plan.prelude:
        lines += ["setup:", *(f"  {line}" for line in plan.prelude.splitlines())]
    lines += ["env:", *(f"  {k}={v}" for k, v in sorted(mask_env(spec.env).items()))]
    return "\n".join(lines)


class LaunchSetup:
    """The Setup tab's model: the profile, the app's rank-table file, the plan made from the
    form, the server checks and the checklist. ``update(...)`` recomputes; ``changes`` counts."""

    def __init__(self) -> None:
        self.profile: Profile | None = None
        self.profile_error: str | None = None
        self.file: Any = None
        """The app's ``RankTableFile``."""
        self.table_problems: list[Any] = []
        self.plan: LaunchPlan | None = None
        self.plan_error: str | None = None
        self.remote: list[Any] | None = None
        self.checks: list[ProblemItem] = []
        self.changes = 0

    @property
    def table(self) -> Any:
        return self.file.table if self.file is not None else None

    @property
    def data(self) -> bytes | None:
        return self.file.data if self.file is not None else None

    def set_file(self, file: Any, problems: list[Any]) -> None:
        self.file, self.table_problems = file, problems

    def update(
        self, form: Form, options: dict[str, Any], run_id: str, *, inventory: Inventory | None, ping: PingMatrix | None
    ) -> None:
        """A new plan from the form (server checks were for the previous plan), new checklist."""
        self.plan, self.plan_error = None, None
        if self.table is not None and self.profile is not None:
            self.plan, self.plan_error = make_plan(self.table, self.profile, form, options, run_id, inventory)
        self.remote = None
        self.recheck(inventory=inventory, ping=ping)

    def recheck(self, *, inventory: Inventory | None, ping: PingMatrix | None) -> None:
        file = self.file
        self.checks = checklist(
            path=file.path if file is not None else None,
            table_error=file.error if file is not None else None,
            table=self.table,
            plan=self.plan,
            plan_error=self.plan_error,
            profile_error=self.profile_error,
            table_problems=self.table_problems,
            inventory=inventory,
            unsaved=file is not None and not file.saved,
            remote=self.remote,
            ping=ping,
        )
        self.changes += 1

    def summary(self) -> str:
        if self.plan is not None:
            return plan_summary(self.plan)
        return "No plan yet — " + ("type a command" if self.table is not None else "save a rank table first (pane 3)")

    def status(self) -> str:
        blockers = blocking(self.checks)
        if blockers:
            return f"Not ready: {blockers[0]}"
        plan = self.plan
        if plan is None:
            return "No plan yet"
        return f"Ready: {counted(plan.world_size, 'rank')} on {counted(len(plan.servers), 'server')} — F5 launches"

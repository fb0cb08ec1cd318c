"""Launch plan: rank table + profile -> what every server starts, with which env.

This does right what the MindIE guide does with a shell loop per server: server k's ranks
start at RANK_ID_START (= the lowest rank id it holds in the table), ``LOCAL_RANK`` is the
index on its own server (the guide's loop wrongly sets LOCAL_RANK=RANK on server 2), and every
rank gets ``DEVICE_ID`` from the table entry whose rank_id it runs.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from console.core.errors import CheckFailed, InputError
from console.core.planning.perserver import (
    HostFacts,
    missing_value,
    server_env,
    server_values,
)
from console.core.planning.rundir import (
    PENDING_RUN_ID,
    RANKTABLE_NAME,
    RUN_MARKER,
    SERVER_MARKER,
    check_run_base,
    run_dirs,
)
from console.core.planning.torchrun import (
    DEFAULTS,
    device_mismatch_warning,
    torchrun_env,
)
from console.core.profiles import Profile, check_env, cwd_problem, profile_source
from console.core.targets import check_target, host_problem, quoted

PLACEHOLDER = re.compile(
    r"\{(tp|pp|ep|dp|world_size|rank|local_rank|device_id|upload_dir|node_rank|nnodes|local_world_size"
    r"|rank_id_start|server_ip|master_ip|is_master|host_ip|host_nic|container_ip|model|dp_local|dp_start"
    r"|rpc_port|http_port|headless)\}"
)
SERVER_PLACEHOLDERS = (
    "node_rank",
    "nnodes",
    "local_world_size",
    "rank_id_start",
    "server_ip",
    "master_ip",
    "is_master",
    "host_ip",
    "host_nic",
    "container_ip",
)
"""Per server, in both granularities: the server's index in table order, the server count,
its devices, its first rank, its server_id, the master's, 1 on the first server else 0, the
host IP and NIC from discovery (host_ip defaults to the server_id), MindIE's container_ip."""
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NEEDS_SHELL = re.compile(r"[;&|\n()`<>]|^\s*(if|for|while|case|until)\b|^\s*[A-Za-z_]\w*=")
"""Shell text that ``exec`` cannot prefix: lists, pipes, compound commands, and a leading
``NAME=value`` assignment (``exec GREETING=hi cmd`` looks for a program named ``GREETING=hi``)."""
_ASSIGNMENT = re.compile(r"^\s*[A-Za-z_]\w*=")


class RankSpec(BaseModel):
    rank: int
    local_rank: int = Field(description="Index of the rank on its server (0..cards-1)")
    device_id: int = Field(description="device_id of the table entry with this rank_id")
    device_ip: str | None = None
    devices: list[int] = Field(default_factory=list, description="Per-server process: the server's device ids")
    await_ready: bool = Field(True, description="Must print the ready pattern")
    env: dict[str, str] = Field(description="Launcher + profile + --env variables")
    command: str = Field(description="Shell text, placeholders substituted")


class ServerPlan(BaseModel):
    server_id: str = Field(description="server_id in the rank table")
    host: str = Field(description="SSH target (server_id unless mapped with --host)")
    rank_id_start: int
    ranks: list[RankSpec]
    values: dict[str, str] = Field(
        default_factory=dict, description="This server's placeholder values ({node_rank}...)"
    )
    run_dir: str = Field(
        "",
        description="This server's private run folder ({upload_dir}); "
        "starts with ~ until the launch resolves it on the server",
    )
    ranktable: str = Field("", description="RANK_TABLE_FILE on this server")
    ranktable_created: bool = Field(
        False,
        description="The launch created the file at the "
        "explicit remote_ranktable path here (removed at the end "
        "unless keep_remote)",
    )


class LaunchPlan(BaseModel):
    profile: str
    world_size: int
    master_addr: str
    master_port: int
    backend: str
    remote_ranktable: str = Field(
        description="Explicit absolute path on every server, or '' = ranktable.json in each server's run folder"
    )
    prelude: str = Field(description="Shell text run before the barrier: setup lines, cd")
    exec_command: bool = Field(description="Prefix the command with exec (a simple command)")
    servers: list[ServerPlan]
    parallel: dict[str, int]
    grace_s: float
    ready_pattern: str
    ready_timeout_s: float
    setup_timeout_s: float
    barrier: str
    realtime_release: bool = Field(True, description="The agents release at real-time priority where allowed")
    python: str
    run_id: str | None = Field(None, description="Run record id; also names upload_dir")
    upload_dir: str = Field(
        "",
        description="<run_base>/<run id>: holds each server's own "
        "run folder (ServerPlan.run_dir, which {upload_dir} names)",
    )
    uploads: list[str] = Field(default_factory=list, description="Bundle names / local paths put into upload_dir")
    warnings: list[str] = Field(default_factory=list)
    per: Literal["rank", "server"] = Field("rank", description="One process per rank or per server")
    serving: str = Field("", description="The profile's serving stack (mindie-service, vllm-ascend) or ''")
    run_base: str = Field(
        "", description="Folder on the servers under which each run gets <run id>/<server>/ (mode 0700)"
    )
    keep_remote: bool = Field(False, description="Keep the run folders on the servers")
    force_remote_ranktable: bool = Field(
        False, description="Overwrite an existing file at remote_ranktable even if it is not a rank table"
    )
    template_base: str = Field("", description="The profile's command, placeholders unsubstituted")
    template_args: list[str] = Field(default_factory=list, description="CLI args, unsubstituted")
    template_env: dict[str, str] = Field(default_factory=dict, description="Profile + --env values, unsubstituted")

    @property
    def processes(self) -> int:
        return sum(len(s.ranks) for s in self.servers)

    def rank(self, rank: int) -> tuple[ServerPlan, RankSpec]:
        for server in self.servers:
            for spec in server.ranks:
                if spec.rank == rank:
                    return server, spec
        raise KeyError(rank)

    def server(self, server_id: str) -> ServerPlan:
        return next(s for s in self.servers if s.server_id == server_id)


def substitute(text: str, values: Mapping[str, object]) -> str:
    """Replace ``{tp}``-style placeholders; any other ``{...}`` (e.g. ``${VAR}``) stays."""
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def _problem(message: str) -> CheckFailed:
    return CheckFailed(
        "rank table cannot be launched", message, hint="fix it with `cluster-console ranktable validate`"
    )


def _check_layout(table: Any) -> list[tuple[Any, list[Any]]]:
    """Servers with their devices sorted by rank; refuse duplicates, gaps and interleaving."""
    if not table.server_list:
        raise _problem("server_list is empty")
    layout: list[tuple[Any, list[Any]]] = []
    seen_sid: set[str] = set()
    seen_rank: dict[int, str] = {}
    for server in table.server_list:
        if server.server_id in seen_sid:
            raise _problem(f"server_id {server.server_id} appears twice")
        seen_sid.add(server.server_id)
        if not server.device:
            raise _problem(f"server {server.server_id} has no device")
        devs = sorted(server.device, key=lambda d: int(d.rank_id))
        ids = [int(d.device_id) for d in devs]
        if len(set(ids)) != len(ids):
            raise _problem(f"server {server.server_id} lists a device_id twice")
        for d in devs:
            r = int(d.rank_id)
            if r in seen_rank:
                raise _problem(f"rank_id {r} on {server.server_id} and {seen_rank[r]}")
            seen_rank[r] = server.server_id
        ranks = [int(d.rank_id) for d in devs]
        if ranks != list(range(ranks[0], ranks[0] + len(ranks))):
            raise _problem(f"server {server.server_id} holds non-consecutive ranks {ranks}")
        layout.append((server, devs))
    world = len(seen_rank)
    if sorted(seen_rank) != list(range(world)):
        missing = sorted(set(range(world)) - set(seen_rank))
        raise _problem(f"rank_id must be 0..{world - 1}; missing {missing[:5]}")
    return layout


def _ssh_targets(table: Any, hosts: Mapping[str, str]) -> dict[str, str]:
    """server_id -> SSH target: the ``--host`` mapping, else the server_id itself, which must
    then be an IP address or a host name (a rank table from someone else is not trusted)."""
    unknown = set(hosts) - {s.server_id for s in table.server_list}
    if unknown:
        raise InputError(f"--host names server_id {sorted(unknown)[0]} which is not in the rank table")
    targets = {}
    for i, server in enumerate(table.server_list):
        sid = server.server_id
        if sid in hosts:
            targets[sid] = check_target(hosts[sid], f"SSH target for server_id {quoted(sid)}")
            continue
        why = host_problem(sid)
        if why:
            raise CheckFailed(
                "rank table cannot be launched",
                f"server_list[{i}].server_id {quoted(sid)} {why}: it cannot be an SSH target",
                hint="fix the rank table (`cluster-console ranktable validate`), "
                "or map it with --host SERVER_ID=TARGET",
            )
        targets[sid] = sid
    return targets


def _command(profile: Profile, args: Sequence[str]) -> tuple[str, list[str], bool]:
    """(profile's shell text, CLI args, exec ok); rendered per rank by ``render_command``."""
    if profile.args_required and not args:
        raise InputError(f"profile {profile.name} needs arguments after --", hint=f"e.g. -- {profile.args_required}")
    if not profile.command and not args:
        raise InputError(
            "no command to launch", hint="give it after --, e.g. `launch --ranktable rt.json -- python3 x.py`"
        )
    # CLI args are quoted word by word, so only a leading NAME=value can stop ``exec``
    lead = profile.command or shlex.join(args)
    simple = not (_NEEDS_SHELL if profile.command else _ASSIGNMENT).search(lead)
    return profile.command, list(args), simple


def render_command(base: str, args: Sequence[str], values: Mapping[str, object]) -> str:
    """Placeholders substituted; CLI args substituted, then each quoted for the shell."""
    tail = shlex.join(substitute(a, values) for a in args)
    return " ".join(p for p in (substitute(base, values), tail) if p)


_SETUP_FAILED = shlex.quote(r"cluster-console: setup line failed (exit %s): %s\n")


def build_prelude(setup: Sequence[str], cwd: str, *, strict: bool) -> str:
    """Setup lines and ``cd``; with ``strict`` a failing line ends the rank with 126."""
    lines = []
    for line in setup:
        if strict:
            # the line on lines of its own (a trailing comment or an open quote cannot
            # swallow the guard) and handed to printf as an argument (a % stays text)
            lines.append(
                f'{{\n{line}\n}} || {{ rc=$?; printf {_SETUP_FAILED} "$rc" {shlex.quote(line)} >&2; exit 126; }}'
            )
        else:
            lines.append(line)
    if cwd:
        quoted = '"' + re.sub(r'(["\\`])', r"\\\1", cwd) + '"'
        msg = shlex.quote("cluster-console: cannot enter working folder %s\n")
        lines.append(f"cd -- {quoted} || {{ printf {msg} {quoted} >&2; exit 126; }}")
    return "\n".join(lines)


def _master_port(profile: Profile, env: Mapping[str, str], port: int | None) -> int:
    if "MASTER_PORT" in env:
        try:
            value = int(env["MASTER_PORT"])
        except ValueError:
            raise InputError(f"MASTER_PORT={env['MASTER_PORT']!r} is not a port number") from None
    else:
        value = port if port is not None else profile.master_port
    if not 1 <= value <= 65535:
        raise InputError(f"master port {value} is outside [1, 65535]")
    return value


def _parallel(profile: Profile, world: int, overrides: Mapping[str, int]) -> tuple[dict[str, int], list[str]]:
    par = {"tp": profile.tp or world, "pp": profile.pp, "ep": profile.ep, "dp": profile.dp}
    for key, value in overrides.items():
        if key not in par or value < 1:
            raise InputError(f"bad parallel setting {key}={value}", "tp, pp, ep, dp >= 1")
        par[key] = value
    warn = []
    if par["tp"] * par["pp"] * par["dp"] != world:
        warn.append(f"tp*pp*dp = {par['tp'] * par['pp'] * par['dp']} but the table has {world} ranks")
    return par, warn


def _server_plan(
    server: Any,
    devs: list[Any],
    common: dict[str, str],
    user_env: Mapping[str, str],
    par: dict[str, int],
    world: int,
    command: tuple[str, list[str]],
    host: str,
    upload_dir: str,
    svalues: dict[str, str],
    per: str,
    ready_first_only: bool,
    group: tuple[int, int, str | None],
) -> ServerPlan:
    """``group``: (this server's index in rank order, server count, run id)."""
    start = int(devs[0].rank_id)
    ranks = []
    try:
        if per == "server":
            values = {
                **par,
                **svalues,
                "upload_dir": upload_dir,
                "world_size": world,
                "rank": start,
                "local_rank": 0,
                "device_id": int(devs[0].device_id),
            }
            env = server_env({**DEFAULTS, **common}, svalues, devs)
            env.update({k: substitute(v, values) for k, v in user_env.items()})
            ranks.append(
                RankSpec(
                    rank=int(svalues["node_rank"]),
                    local_rank=0,
                    device_id=int(devs[0].device_id),
                    devices=[int(d.device_id) for d in devs],
                    env=env,
                    await_ready=not ready_first_only or svalues["is_master"] == "1",
                    command=render_command(*command, values),
                )
            )
        for local, dev in enumerate(devs if per == "rank" else []):
            values = {
                **par,
                **svalues,
                "upload_dir": upload_dir,
                "world_size": world,
                "rank": int(dev.rank_id),
                "local_rank": local,
                "device_id": int(dev.device_id),
            }
            rank_env = {
                **DEFAULTS,
                **common,
                "RANK": str(values["rank"]),
                "LOCAL_RANK": str(local),
                "LOCAL_WORLD_SIZE": str(len(devs)),
                "RANK_ID_START": str(start),
                "DEVICE_ID": str(values["device_id"]),
                **torchrun_env(group[0], group[1], int(dev.rank_id), world, group[2]),
            }
            rank_env.update({k: substitute(v, values) for k, v in user_env.items()})
            ranks.append(
                RankSpec(
                    rank=values["rank"],
                    local_rank=local,
                    device_id=values["device_id"],
                    device_ip=getattr(dev, "device_ip", None),
                    await_ready=not ready_first_only or values["rank"] == 0,
                    env=rank_env,
                    command=render_command(*command, values),
                )
            )
    except KeyError as exc:
        raise missing_value(str(exc.args[0]), server.server_id) from None
    return ServerPlan(server_id=server.server_id, host=host, rank_id_start=start, ranks=ranks, values=svalues)


def _bound_values(plan: LaunchPlan, server: ServerPlan, spec: RankSpec, folder: str) -> dict[str, object]:
    """The placeholder values ``_server_plan`` used for ``spec``, with ``folder`` as
    ``{upload_dir}``."""
    one = plan.per == "server"
    return {
        **plan.parallel,
        **server.values,
        "upload_dir": folder,
        "world_size": plan.world_size,
        "rank": server.rank_id_start if one else spec.rank,
        "local_rank": 0 if one else spec.local_rank,
        "device_id": spec.device_id,
    }


def bind_run(plan: LaunchPlan, run_id: str | None, dirs: Mapping[str, str]) -> LaunchPlan:
    """The plan with each server's run folder ``dirs[server_id]`` (and ``run_id``) filled in:
    ``{upload_dir}`` in commands and env values, ``RANK_TABLE_FILE`` (unless the table has an
    explicit remote path) and the run markers of every rank. ``console.ops.launch`` calls it
    again once the servers have resolved ``~``."""
    marker = run_id or PENDING_RUN_ID
    servers = []
    for server in plan.servers:
        folder = dirs[server.server_id]
        table = plan.remote_ranktable or posixpath.join(folder, RANKTABLE_NAME)
        ranks = []
        for spec in server.ranks:
            values = _bound_values(plan, server, spec, folder)
            env = {
                **spec.env,
                **{k: substitute(v, values) for k, v in plan.template_env.items()},
                "RANKTABLEFILE": table,
                "RANK_TABLE_FILE": table,
                RUN_MARKER: marker,
                SERVER_MARKER: server.server_id,
            }
            if run_id and "TORCHELASTIC_RUN_ID" in env:
                env["TORCHELASTIC_RUN_ID"] = run_id
            command = render_command(plan.template_base, plan.template_args, values)
            ranks.append(spec.model_copy(update={"env": env, "command": command}))
        servers.append(server.model_copy(update={"run_dir": folder, "ranktable": table, "ranks": ranks}))
    return plan.model_copy(
        update={"run_id": run_id, "servers": servers, "upload_dir": posixpath.join(plan.run_base, marker)}
    )


def build_launch_plan(
    table: Any,
    profile: Profile,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    setup: Sequence[str] = (),
    cwd: str | None = None,
    remote_ranktable: str | None = None,
    hosts: Mapping[str, str] | None = None,
    master_port: int | None = None,
    parallel: Mapping[str, int] | None = None,
    run_id: str | None = None,
    uploads: Sequence[str] = (),
    per: str | None = None,
    host_facts: Mapping[str, HostFacts] | None = None,
    values: Mapping[str, Mapping[str, str]] | None = None,
    keep_remote: bool = False,
    force_remote_ranktable: bool = False,
) -> LaunchPlan:
    """The whole plan. ``table`` is a ``RankTable``. ``run_id`` (``ops.runrecord.new_run_id()``)
    names the run record and the run folders on the servers (``<upload_base>/<run id>/<server>``,
    see ``console.core.planning.rundir``); without it the launch binds one.
    ``per``: "rank" or "server" (default: the profile's); ``host_facts``: server_id ->
    discovery's host IP and NIC ({host_ip}, {host_nic}); ``values``: server_id -> more
    placeholder values for that server (the serving profiles' {dp_local}, {headless}...)."""
    per = per or profile.per
    if run_id is not None and not RUN_ID.match(run_id):
        raise InputError(f"bad run id {run_id!r}", "letters, digits, '.', '_' and '-' only")
    check_run_base(profile.upload_base, f"profile {profile.name}")
    if per not in ("rank", "server"):
        raise InputError(f"bad launch granularity {per!r}", "one process per 'rank' or per 'server'")
    if cwd is not None and (why := cwd_problem(cwd)):
        raise InputError(f"bad --cwd {quoted(cwd)}", why, hint="$NAME and ${NAME} are expanded on the server")
    layout = _check_layout(table)
    user_env = {**profile.env, **(env or {})}
    targets = _ssh_targets(table, hosts or {})
    path = remote_ranktable or profile.remote_ranktable or ""
    if path and not path.startswith("/"):
        raise InputError(
            f"remote rank table path {path!r} must be absolute", hint="every server must see the same absolute path"
        )
    table_warning = (
        []
        if remote_ranktable or not path
        else [
            f"the rank table goes to {path} on every server: that path comes from "
            f"{profile_source(profile)} (remote_ranktable), not from your command line; check "
            "it is yours to write (an existing file there that is not a rank table is refused)"
        ]
    )
    world = sum(len(devs) for _, devs in layout)
    master = next(s.server_id for s, devs in layout if int(devs[0].rank_id) == 0)
    port = _master_port(profile, user_env, master_port)
    par, warnings = _parallel(profile, world, parallel or {})
    base, cmd_args, exec_ok = _command(profile, args)
    common = {
        "WORLD_SIZE": str(world),
        "BACKEND": profile.backend,
        "RANKTABLEFILE": path,
        "RANK_TABLE_FILE": path,
        "MASTER_ADDR": master,
        "MASTER_IP": master,
        "MASTER_PORT": str(port),
    }
    files = [*profile.upload, *uploads]
    in_rank_order = sorted(range(len(layout)), key=lambda i: int(layout[i][1][0].rank_id))
    group_of = {i: g for g, i in enumerate(in_rank_order)}
    facts, more = host_facts or {}, values or {}
    servers = [
        _server_plan(
            server,
            devs,
            common,
            user_env,
            par,
            world,
            (base, cmd_args),
            targets[server.server_id],
            "",
            server_values(
                i, len(layout), server, devs, master, facts.get(server.server_id), more.get(server.server_id, {})
            ),
            per,
            profile.ready_on == "first",
            (group_of[i], len(layout), run_id),
        )
        for i, (server, devs) in enumerate(layout)
    ]
    mismatch = (
        device_mismatch_warning([(r.rank, r.local_rank, r.device_id) for s in servers for r in s.ranks])
        if per == "rank"
        else None
    )
    warnings += [mismatch] if mismatch else []
    plan = LaunchPlan(
        profile=profile.name,
        world_size=world,
        master_addr=master,
        master_port=port,
        backend=user_env.get("BACKEND", profile.backend),
        remote_ranktable=path,
        prelude=build_prelude(
            [*profile.setup, *setup], cwd if cwd is not None else profile.cwd, strict=profile.strict_setup
        ),
        exec_command=exec_ok,
        servers=servers,
        parallel=par,
        grace_s=profile.grace_s,
        ready_pattern=profile.ready_pattern,
        ready_timeout_s=profile.ready_timeout_s,
        setup_timeout_s=profile.setup_timeout_s,
        realtime_release=profile.realtime_release,
        barrier=profile.barrier,
        python=profile.python,
        run_id=run_id,
        uploads=files,
        warnings=[*table_warning, *warnings, *check_env(user_env)],
        per=per,
        serving=profile.serving,
        run_base=profile.upload_base,
        keep_remote=keep_remote,
        template_base=base,
        force_remote_ranktable=force_remote_ranktable,
        template_args=cmd_args,
        template_env=user_env,
    )
    dirs = run_dirs(plan.run_base, run_id or PENDING_RUN_ID, [s.server_id for s in servers])
    return bind_run(plan, run_id, dirs)

"""Launch profiles: what to run on every rank (command, setup lines, env, working folder).

Profiles are TOML documents. This module only parses text (the ops layer reads the files):
bundled ones live in ``console/profiles/``, users' own in
``~/.config/cluster-console/profiles/*.toml`` (same name = user's wins).

Also here: the ``--env K=V`` and ``--host SERVER_ID=TARGET`` item parsers and the HCCL env
sanity checks (warnings, never errors: the user may know better).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from console.core.errors import InputError, describe_validation_error
from console.core.planning.torchrun import RESERVED as TORCHRUN_RESERVED
from console.core.secrets import MASK
from console.core.targets import check_target

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Set by the launcher from the rank table; a profile or ``--env`` may not override them.
RESERVED_ENV = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "RANK_ID_START",
    "DEVICE_ID",
    "RANKTABLEFILE",
    "RANK_TABLE_FILE",
    "MASTER_ADDR",
    "MASTER_IP",
    *TORCHRUN_RESERVED,
    "CLUSTER_CONSOLE_RUN",
    "CLUSTER_CONSOLE_SERVER",
)


_CWD_VAR = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\})")
_CWD_REFUSED = set("`\"'\\;&|<>(){}*?[]!")


def cwd_problem(cwd: str) -> str | None:
    """Why ``cwd`` is not a plain folder with ``$NAME``/``${NAME}`` expansion (None if it is).

    It is run as ``cd -- "CWD"`` on every server, so ``$(...)``, backticks, ``${NAME:-...}``
    and any other shell syntax would run code that a profile from someone else chose."""
    rest = _CWD_VAR.sub("", cwd)
    if "$(" in rest or "`" in rest:
        return "command substitution ($(...) or backticks) is not allowed"
    if "$" in rest:
        return "only $NAME and ${NAME} may follow a '$'"
    for ch in rest:
        if not ch.isprintable() or ch in "\n\r\t":
            return "control characters are not allowed"
        if ch in _CWD_REFUSED:
            return f"the shell character {ch!r} is not allowed"
    return None


class Profile(BaseModel):
    """How one rank is started: ``bash -c 'setup; cd cwd; [barrier]; exec command'``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Profile name (the file's stem unless set)")
    _source: str = PrivateAttr("")
    description: str = ""
    command: str = Field("", description="Shell text run on every rank; trailing CLI args are appended")
    args_required: str = Field("", description="If set, the CLI must append args; shown as hint")
    setup: list[str] = Field(default_factory=list, description="Shell lines run before the command")
    strict_setup: bool = Field(True, description="A failing setup line fails the rank (exit 126)")
    cwd: str = Field("", description="Working folder; $VARS are expanded after the setup lines")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment for every rank")
    backend: str = Field("hccl", description="Value of BACKEND")
    master_port: int = Field(29500, ge=1, le=65535, description="MASTER_PORT")
    remote_ranktable: str = Field("", description="Absolute path of the rank table on the servers")
    tp: int | None = Field(None, ge=1, description="{tp}; default world size")
    pp: int = Field(1, ge=1)
    ep: int = Field(1, ge=1)
    dp: int = Field(1, ge=1)
    ready_pattern: str = Field("", description="Regex every rank must print after GO")
    ready_on: Literal["all", "first"] = Field(
        "all",
        description="all: every process must print ready_pattern; first: only rank 0's "
        "(per server: the first server's)",
    )
    per: Literal["rank", "server"] = Field(
        "rank", description="One process per rank, or one per server (serving stacks)"
    )
    serving: Literal["", "mindie-service", "vllm-ascend"] = Field(
        "", description="A serving stack: the console prepares it and sends a first request"
    )
    http_port: int | None = Field(None, ge=1, le=65535, description="{http_port}: the service's HTTP port")
    rpc_port: int | None = Field(None, ge=1, le=65535, description="{rpc_port}: vLLM's data-parallel RPC port")
    ready_timeout_s: float = Field(600.0, gt=0)
    setup_timeout_s: float = Field(300.0, gt=0, description="Max wait for all ranks at the barrier")
    grace_s: float = Field(5.0, ge=0, description="TERM -> KILL grace period at teardown")
    barrier: Literal["hold", "spawn"] = Field(
        "hold", description="hold: ranks run setup then wait for GO; spawn: started at GO"
    )
    realtime_release: bool = Field(
        True,
        description="Each server's host agent waits for the release moment and releases the ranks at "
        "real-time priority (SCHED_FIFO 1) where the server allows it (root), then gives it back: a "
        "precise start on busy servers; ranks never inherit it",
    )
    python: str = Field("python3", description="Interpreter for the host agent on the servers")
    upload: list[str] = Field(
        default_factory=list,
        description="Uploaded to every server before the launch, into {upload_dir}: bundle "
        "names (probe = the collective probe) or local file paths",
    )
    upload_base: str = Field(
        "~/.cache/cluster-console/runs",
        description="Folder on the "
        "servers (absolute, or ~/ = the remote user's home) under which "
        "each launch creates its private <run id>/<server>/ folder, "
        "{upload_dir}",
    )

    @property
    def source(self) -> str:
        """The file (or bundled resource) this profile was read from; "" when built in code."""
        return self._source

    def read_from(self, source: str) -> Profile:
        """Remember where this profile was read from (not a field: it is no setting)."""
        self._source = source
        return self

    @field_validator("cwd")
    @classmethod
    def _plain_cwd(cls, value: str) -> str:
        why = cwd_problem(value)
        if why:
            raise ValueError(f"{value!r}: {why}; $NAME and ${{NAME}} are expanded on the server")
        return value


def parse_profile(text: str, *, name: str, source: str) -> Profile:
    """Parse one profile document; errors name ``source`` and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError("not a valid TOML profile", str(exc), path=source) from None
    except RecursionError:
        raise InputError("not a valid TOML profile", "nested too deeply", path=source) from None
    data.setdefault("name", name)
    env = data.get("env")
    if isinstance(env, dict):
        data["env"] = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in env.items()}
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise InputError("bad profile field", describe_validation_error(exc), path=source) from None
    for key in profile.env:
        _check_key(key, f"[env] {key}", source)
    if profile.ready_pattern:
        _check_regex(profile.ready_pattern, source)
    return profile.read_from(source)


def profile_source(profile: Profile) -> str:
    """The file (or bundled resource) the profile was read from, or its name."""
    return profile.source or f"profile {profile.name}"


def with_source(new: Profile, old: Profile) -> Profile:
    """``new`` (e.g. ``old`` revalidated with CLI overrides) remembering ``old``'s file."""
    return new.read_from(old.source)


def _check_regex(pattern: str, source: str | None) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InputError(f"bad ready_pattern {pattern!r}", str(exc), path=source) from None


def _check_key(key: str, item: str, source: str | None) -> None:
    if not ENV_KEY.match(key):
        raise InputError(
            f"bad environment variable name in {item!r}",
            "names are letters, digits and _ and do not start with a digit",
            path=source,
        )
    if key in RESERVED_ENV:
        raise InputError(
            f"{key} cannot be set in {item!r}",
            "the launcher sets it for every rank from the rank table",
            path=source,
            hint="leave it out; see the launch plan",
        )


def masked_item(item: str) -> str:
    """An env item for an error message: ``NAME=***`` (a value is never shown), or the first
    two characters of an item without ``=`` (it may be a value typed without its name)."""
    key, sep, _ = item.partition("=")
    if sep:
        return f"{key}={MASK}"
    return item if ENV_KEY.match(item) else f"{item[:2]}{MASK}"


def parse_env_items(
    items: list[str], environ: Mapping[str, str] | None = None, *, option: str = "--env"
) -> dict[str, str]:
    """``["K=V", "NAME", ...]`` -> dict. A bare ``NAME`` takes its value from ``environ``
    (the console's own environment: a secret then never sits in a command line); without
    ``environ`` it is an error. A bad item raises InputError naming it, its value masked."""
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        shown = masked_item(item)
        if not key or (not sep and environ is None):
            raise InputError(
                f"bad {option} item {shown!r}", "expected KEY=VALUE", hint="e.g. --env HCCL_CONNECT_TIMEOUT=1200"
            )
        _check_key(key, shown, None)
        if not sep and environ is not None:
            if key not in environ:
                raise InputError(
                    f"{option} {key}: {key} is not set in this console's environment",
                    "a bare NAME takes its value from the environment the console runs in",
                    hint=f"export {key}=... first, or use --env-file FILE",
                )
            value = environ[key]
        env[key] = value
    return env


def parse_env_file(text: str, source: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments and blank lines skipped; the value is taken
    literally: no quotes, no ``$`` expansion). Errors name ``source`` and the line, never the
    value."""
    env: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = line.lstrip().partition("=")
        where = f"{source}:{n}"
        shown = f"{key}={MASK}" if sep else f"{stripped[:2]}{MASK}"  # a line without = may be a value
        if not sep or not key:
            raise InputError(
                f"bad line {n} {shown!r}", "expected KEY=VALUE", path=where, line=n, hint="comments start with #"
            )
        _check_key(key, shown, where)
        env[key] = value
    return env


def parse_host_items(items: list[str]) -> dict[str, str]:
    """``["SERVER_ID=SSH_TARGET", ...]`` -> dict; a bad item raises InputError naming it."""
    hosts: dict[str, str] = {}
    for item in items:
        sid, sep, target = item.partition("=")
        if not sep or not sid.strip() or not target.strip():
            raise InputError(
                f"bad --host item {item!r}", "expected SERVER_ID=SSH_TARGET", hint="e.g. --host 90.90.152.89=root@node1"
            )
        sid = sid.strip()
        if sid in hosts:
            raise InputError(f"--host {sid} given twice", f"{hosts[sid]!r} and {target!r}")
        try:
            check_target(target.strip(), "SSH target")
        except InputError as exc:
            raise InputError(f"bad --host item {item!r}", exc.detail, hint=exc.hint) from None
        hosts[sid] = target.strip()
    return hosts


def _int_range(lo: int, hi: int | None) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            n = int(value)
        except ValueError:
            return "is not an integer"
        if n < lo or (hi is not None and n > hi):
            return f"is outside [{lo}, {hi if hi is not None else 'inf'}]"
        return None

    return check


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value.lower() in choices else f"is not one of {', '.join(choices)}"

    return check


#: Documented ranges (ascend.md §4.3, §6 #19). A value outside gives a warning.
ENV_RULES = {
    "HCCL_CONNECT_TIMEOUT": _int_range(120, 7200),
    "HCCL_EXEC_TIMEOUT": _int_range(0, 2147483647),
    "HCCL_BUFFSIZE": _int_range(1, None),
    "HCCL_IF_BASE_PORT": _int_range(1024, 65504),
    "HCCL_RDMA_SL": _int_range(0, 7),
    "HCCL_RDMA_TC": _int_range(0, 255),
    "HCCL_WHITELIST_DISABLE": _one_of("0", "1"),
    "HCCL_DETERMINISTIC": _one_of("true", "false"),
    "HCCL_SOCKET_FAMILY": _one_of("af_inet", "af_inet6"),
    "ATB_LLM_HCCL_ENABLE": _one_of("0", "1"),
    "MASTER_PORT": _int_range(1, 65535),
}


def check_env(env: dict[str, str]) -> list[str]:
    """Warnings for values the Ascend stack documents as out of range."""
    warnings = []
    for key, value in env.items():
        rule = ENV_RULES.get(key)
        problem = rule(value) if rule else None
        if problem:
            warnings.append(f"{key}={value} {problem} (documented range; HCCL may reject it)")
    if env.get("HCCL_INTRA_ROCE_ENABLE") == "1" and env.get("HCCL_INTRA_PCIE_ENABLE") == "1":
        warnings.append("HCCL_INTRA_ROCE_ENABLE and HCCL_INTRA_PCIE_ENABLE are both 1 (A2: not both)")
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        if env.get(key):
            warnings.append(f"{key} is set: MindIE multi-node docs require it unset")
    return warnings

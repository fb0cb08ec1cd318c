"""Typed events of a launch (what ``console.ops.launch`` yields) and the job summary.

Dataclasses rather than pydantic models: a busy job yields thousands of ``RankLine`` a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class StageName(StrEnum):
    """The stages of a launch, in order (``kept``: after the job, run folders left on the
    servers). A ``str`` (JSON: the value)."""

    RECORD = "record"
    VALIDATE = "validate"
    PREFLIGHT = "preflight"
    PREPARE = "prepare"
    AGENTS = "agents"
    GO = "go"
    KEPT = "kept"


@dataclass(frozen=True, slots=True)
class Stage:
    """Progress before the ranks run: prepare, preflight, record, agents, go."""

    name: StageName
    message: str
    run_dir: str | None = None
    """The run record's folder (stage ``record``), as a value: no one parses ``message``."""


@dataclass(frozen=True, slots=True)
class LaunchWarning:
    message: str
    host: str | None = None


@dataclass(frozen=True, slots=True)
class RankStarted:
    rank: int
    server_id: str
    ts: float
    """When the agent released the rank (barrier opened / process forked), by its server's
    clock (epoch seconds)."""
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class RankLine:
    rank: int
    stream: str
    """"o" stdout, "e" stderr"""
    text: str
    partial: bool = False
    """A piece of an over-long line; the next RankLine of this rank continues it."""


@dataclass(frozen=True, slots=True)
class RankReady:
    """The rank printed the profile's ready pattern."""

    rank: int
    after_s: float


@dataclass(frozen=True, slots=True)
class RankExited:
    rank: int
    server_id: str
    code: int | None
    """Exit status (128+N when killed by signal N); None when its server was lost."""
    signal: int | None = None


@dataclass(frozen=True, slots=True)
class ServerLost:
    server_id: str
    host: str
    reason: str


@dataclass(frozen=True, slots=True)
class RootCause:
    """What ended the job: a rank (with its last lines), a server, or the user's Stop."""

    reason: str
    server_id: str
    host: str
    rank: int | None = None
    exit_code: int | None = None
    signal: int | None = None
    last_lines: tuple[str, ...] = ()
    kind: str = "failure"
    """"failure" (a rank, a server, a timeout, an interruption), "stopped" (the user's
    Stop: ``launch(..., stop=event)``) or "stall" (``--fail-fast-stall``: most ranks stalled
    while one server's ranks failed or stayed silent; ``server_id`` names that server)."""

    def describe(self) -> str:
        who = f"rank {self.rank} on {self.server_id}" if self.rank is not None else self.server_id
        if self.host != self.server_id:
            who += f" ({self.host})"
        return f"{who}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Teardown:
    root_cause: RootCause


@dataclass(slots=True)
class JobSummary:
    ok: bool
    world_size: int
    exit_codes: dict[int, int | None]
    run_dir: str | None
    root_cause: RootCause | None = None
    start_skew_s: float | None = None
    """Latest minus earliest rank start = agent release moment (server clocks)."""
    teardown_s: float | None = None
    """From the teardown decision to the last rank's exit report."""
    duration_s: float = 0.0
    lines: int = 0
    lost_servers: list[str] = field(default_factory=list)
    wake_skew_s: float | None = None
    """hold barrier: latest minus earliest moment a rank's shell came out of the barrier
    (its own clock reading, so it includes the OS waking every rank up)."""
    go_late_s: float | None = None
    """Worst lateness of GO at an agent (arrived after its release moment; 0 = in time)."""
    processes: int | None = None
    """Processes launched: world_size per rank, the server count per server."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class JobFinished:
    summary: JobSummary


@dataclass(frozen=True, slots=True)
class RankStalled:
    """A rank said nothing for ``silent_s`` seconds after GO (``--stall-after``), or (``stalled``
    False) printed again after being marked."""

    rank: int
    server_id: str
    silent_s: float
    countdown_s: float | None
    """Seconds left to HCCL_CONNECT_TIMEOUT after GO (negative once passed)."""
    stalled: bool = True


@dataclass(frozen=True, slots=True)
class StallDetected:
    """Most running ranks are stalled while every rank of one server failed or never printed:
    that server is the culprit, found before HCCL's own timeout. ``teardown``: the job is torn
    down for it (``--fail-fast-stall``); else it goes on and the caller may diagnose it now."""

    server_id: str
    host: str
    failed: list[int]
    silent: list[int]
    stalled: list[int]
    silent_s: float
    connect_timeout_s: float
    teardown: bool
    message: str


LaunchEvent = (
    Stage
    | LaunchWarning
    | RankStarted
    | RankLine
    | RankReady
    | RankExited
    | ServerLost
    | Teardown
    | JobFinished
    | RankStalled
    | StallDetected
)

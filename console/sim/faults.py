"""Faults a simulated cluster can carry (the ``[[faults]]`` tables of a cluster spec).

Servers are named by their ``name``, their ``address`` or their 1-based position in the
spec (``src = 1`` is the first server). Static faults (link down, TLS, versions, hccn.conf,
net health) are folded into the server and device fields when the spec is validated;
dynamic ones (loss, busy, hang, refuse, slow, serve_no_join, serve_crash, stuck) are read by
the fake tools and the SSH server.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ServerRef = int | str


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LossFault(_Fault):
    """Packet loss on RoCE pings from one device to another device (or a whole server)."""

    kind: Literal["loss"]
    src: ServerRef = Field(description="Server whose device sends the pings")
    src_device: int = Field(description="Physical device id on src (`hccn_tool -i N`)")
    dst: ServerRef = Field(description="Server owning the destination IP")
    dst_device: int | None = Field(None, description="Destination device; none = all devices")
    percent: float = Field(33.33, ge=0, le=100, description="Share of the 3 probes lost")
    lost_seqs: list[int] | None = Field(None, description="Exact lost probes (overrides percent)")
    times_ms: list[float] | None = Field(
        None, min_length=3, max_length=3, description="Reply times per seq for this pair"
    )
    guide_typo: bool = Field(False, description="Print `seq=O` like the MindIE guide")
    symmetric: bool = Field(False, description="Also lose the pings of the way back")

    @model_validator(mode="after")
    def _seqs(self) -> LossFault:
        if self.lost_seqs is None:
            count = round(self.percent * 3 / 100)
            self.lost_seqs = list(range(count))
        bad = [s for s in self.lost_seqs if s not in (0, 1, 2)]
        if bad:
            raise ValueError(f"lost_seqs must be among 0, 1, 2 (got {bad})")
        return self


class LinkDownFault(_Fault):
    """RoCE link DOWN on one device (or every device of the server)."""

    kind: Literal["link_down"]
    server: ServerRef
    device: int | None = None


class TlsFault(_Fault):
    """TLS switch different from the rest of the cluster."""

    kind: Literal["tls"]
    server: ServerRef
    device: int | None = None
    enabled: int = Field(1, ge=0, le=1)


class VersionFault(_Fault):
    """Driver and/or CANN version differing on one server."""

    kind: Literal["version"]
    server: ServerRef
    driver: str | None = None
    cann: str | None = None


class ConfMismatchFault(_Fault):
    """/etc/hccn.conf disagreeing with the card: another address, or none at all."""

    kind: Literal["conf_mismatch"]
    server: ServerRef
    device: int
    address: str | None = Field(None, description="Address written to hccn.conf; none = omitted")


class NetHealthFault(_Fault):
    """`-net_health -g` answering something else than Success."""

    kind: Literal["net_health"]
    server: ServerRef
    device: int | None = None
    status: str = "Receive timeout"


class BusyFault(_Fault):
    """`hccn_tool is busy, please try again.` for the first `calls` invocations on a server."""

    kind: Literal["busy"]
    server: ServerRef
    calls: int = Field(1, ge=1)


class HangFault(_Fault):
    """`hccn_tool` sleeps until killed (on one device and/or one command such as `-ping`)."""

    kind: Literal["hang"]
    server: ServerRef
    device: int | None = None
    command: str | None = Field(None, description="Major command, e.g. -ping; none = all")


class RefuseFault(_Fault):
    """The server does not accept SSH: nothing listens (refused), or it closes at once."""

    kind: Literal["refuse"]
    server: ServerRef
    mode: Literal["refuse", "close"] = "refuse"


class SlowFault(_Fault):
    """The server answers slowly: a delay before each command and/or at login."""

    kind: Literal["slow"]
    server: ServerRef
    delay: float = Field(1.0, ge=0, description="Seconds before each command starts")
    connect_delay: float = Field(0.0, ge=0, description="Seconds before authentication")


class ServeNoJoinFault(_Fault):
    """The serving fakes (``mindieservice_daemon``, ``vllm serve``) on this server start but never
    join the others (never listen, when it is the first server): the service hangs."""

    kind: Literal["serve_no_join"]
    server: ServerRef


class ServeCrashFault(_Fault):
    """The served model answers ``after`` completion requests, then the service crashes on the
    next one (HTTP 500, the tool's dying lines, exit 1 of the first server's process)."""

    kind: Literal["serve_crash"]
    after: int = Field(1, ge=0, description="Completion requests answered before the crash")


class StuckFault(_Fault):
    """Ranks on this server (or on one device) hang silently at HCCL init, as on a hung NPU:
    they never print and never connect; every peer waits HCCL_CONNECT_TIMEOUT in full, then
    times out naming them (``ccsim-hccl-init``)."""

    kind: Literal["stuck"]
    server: ServerRef
    device: int | None = None


Fault = Annotated[
    LossFault
    | LinkDownFault
    | TlsFault
    | VersionFault
    | ConfMismatchFault
    | NetHealthFault
    | BusyFault
    | HangFault
    | RefuseFault
    | SlowFault
    | ServeNoJoinFault
    | ServeCrashFault
    | StuckFault,
    Field(discriminator="kind"),
]

STATIC_KINDS = frozenset({"link_down", "tls", "version", "conf_mismatch", "net_health"})

"""Parallel layout: world size + TP/PP/DP/EP -> the rank groups of each kind.

Convention (Megatron-LM's classic order, ``tp-dp-pp``): tensor-parallel rank varies fastest,
then data-parallel, then pipeline stage::

    rank = tp_rank + tp * (dp_rank + dp * pp_rank)

So a TP group is ``tp`` consecutive ranks (which, with the rank table's server-major rank
numbering, keeps it inside one server whenever ``tp`` divides the ranks per server); a
pipeline stage is ``dp * tp`` consecutive ranks.

Expert parallelism (MoE) does not add a dimension: experts are spread over the data- and
tensor-parallel ranks of ONE pipeline stage. Each stage's ``dp * tp`` consecutive ranks are
cut into blocks of ``ep`` consecutive ranks, one EP group each (ep = dp * tp: one EP group
per stage, as vLLM's ``--enable-expert-parallel`` does; ep must divide dp * tp).

Pure: numbers and server names in, a :class:`Layout` out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ClusterShell.RangeSet import RangeSet
from pydantic import BaseModel, Field

from console.core.diagnostic import Diagnostic, FindingField, diagnostic
from console.core.errors import InputError

Kind = Literal["tp", "dp", "pp", "ep"]
KINDS: tuple[Kind, ...] = ("tp", "dp", "pp", "ep")
ORDER = "tp-dp-pp"


class Layout(BaseModel):
    """Rank groups of every parallel kind, plus findings about where they land."""

    world_size: int
    tp: int
    pp: int
    dp: int
    ep: int
    order: str = Field(ORDER, description="Fastest-varying dimension first")
    rank_servers: list[str] | None = Field(None, description="Server of each rank (index = rank), when known")
    groups: dict[str, list[list[int]]] = Field(
        description="kind -> its groups, each a list of ranks; every rank in exactly one per kind"
    )
    findings: list[FindingField] = Field(default_factory=list)

    def placeholders(self) -> dict[str, int]:
        """``{tp} {pp} {ep} {dp}`` for launch profiles."""
        return {"tp": self.tp, "pp": self.pp, "ep": self.ep, "dp": self.dp}

    def coords(self, rank: int) -> dict[str, int]:
        """This rank's position in each dimension: tp_rank, dp_rank, pp_rank, ep_rank."""
        if not 0 <= rank < self.world_size:
            raise InputError(f"rank {rank} is outside 0..{self.world_size - 1}")
        stage_pos = rank % (self.tp * self.dp)
        return {
            "tp_rank": rank % self.tp,
            "dp_rank": stage_pos // self.tp,
            "pp_rank": rank // (self.tp * self.dp),
            "ep_rank": stage_pos % self.ep,
        }

    def group_of(self, kind: str, rank: int) -> list[int]:
        return next(g for g in self.groups[kind] if rank in g)

    def servers_of(self, group: Sequence[int]) -> list[str]:
        """Distinct servers holding ``group``, in rank order (empty when unknown)."""
        if self.rank_servers is None:
            return []
        return list(dict.fromkeys(self.rank_servers[r] for r in group))

    @property
    def warnings(self) -> list[Diagnostic]:
        return [f for f in self.findings if f.severity == "warning"]


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be an integer >= 1 (got {value!r})")
    return value


def check_sizes(world: int, tp: int, pp: int, dp: int | None, ep: int) -> int:
    """Checked dp (derived from the world size when not given)."""
    if dp is None:
        if world % (tp * pp):
            raise InputError(
                f"the world size {world} is not divisible by tp*pp = {tp}*{pp} = {tp * pp}",
                hint="choose tp and pp whose product divides the number of ranks",
            )
        dp = world // (tp * pp)
    elif tp * pp * dp != world:
        raise InputError(
            f"tp*pp*dp = {tp}*{pp}*{dp} = {tp * pp * dp} does not match the world size {world}",
            hint="leave --dp out to derive it from the world size",
        )
    if (dp * tp) % ep:
        raise InputError(
            f"ep {ep} does not divide dp*tp = {dp}*{tp} = {dp * tp}",
            hint="expert groups are cut from one pipeline stage's dp*tp ranks",
        )
    return dp


def _groups(tp: int, pp: int, dp: int, ep: int) -> dict[str, list[list[int]]]:
    def rank(t: int, d: int, p: int) -> int:
        return t + tp * (d + dp * p)

    stage = tp * dp
    groups = {
        "tp": [[rank(t, d, p) for t in range(tp)] for p in range(pp) for d in range(dp)],
        "dp": [[rank(t, d, p) for d in range(dp)] for p in range(pp) for t in range(tp)],
        "pp": [[rank(t, d, p) for p in range(pp)] for d in range(dp) for t in range(tp)],
        "ep": [list(range(start, start + ep)) for start in range(0, stage * pp, ep)],
    }
    for kind in ("dp", "pp"):
        groups[kind].sort(key=lambda g: g[0])
    return groups


def plan_layout(
    world_size: int,
    *,
    tp: int = 1,
    pp: int = 1,
    ep: int = 1,
    dp: int | None = None,
    rank_servers: Sequence[str] | None = None,
    ranks_per_server: int | None = None,
) -> Layout:
    """The groups of a ``world_size`` job. ``rank_servers`` (server of each rank, e.g. from the
    rank table) or ``ranks_per_server`` (servers named server0, server1, ...) enable the
    check that every TP group stays inside one server. Raises InputError naming the numbers
    when they do not fit."""
    world = _positive("the world size", world_size)
    tp, pp, ep = (_positive(n, v) for n, v in (("tp", tp), ("pp", pp), ("ep", ep)))
    if dp is not None:
        dp = _positive("dp", dp)
    dp = check_sizes(world, tp, pp, dp, ep)
    servers = _servers(world, rank_servers, ranks_per_server)
    layout = Layout(world_size=world, tp=tp, pp=pp, dp=dp, ep=ep, rank_servers=servers, groups=_groups(tp, pp, dp, ep))
    layout.findings.extend(_tp_findings(layout))
    return layout


def _servers(world: int, rank_servers: Sequence[str] | None, per_server: int | None) -> list[str] | None:
    if rank_servers is not None:
        if len(rank_servers) != world:
            raise InputError(f"{len(rank_servers)} rank servers given for a world size of {world}")
        return list(rank_servers)
    if per_server is None:
        return None
    per_server = _positive("ranks per server", per_server)
    if world % per_server:
        raise InputError(
            f"the world size {world} is not a multiple of {per_server} ranks per server",
            hint="every server runs the same number of ranks",
        )
    return [f"server{r // per_server}" for r in range(world)]


def _tp_findings(layout: Layout) -> list[Diagnostic]:
    """A TP group split over servers runs its all_reduce over RoCE, not in-server links."""
    if layout.rank_servers is None or layout.tp == 1:
        return []
    split = [g for g in layout.groups["tp"] if len(layout.servers_of(g)) > 1]
    if not split:
        return []
    first = split[0]
    servers = layout.servers_of(first)
    per_server = _ranks_per_server(layout.rank_servers)
    advice = (
        f"choose a tp that divides the {per_server} ranks per server"
        if per_server
        else "keep each TP group on one server"
    )
    return [
        diagnostic(
            "warning",
            "tp_spans_servers",
            host=",".join(servers),
            message=(
                f"{len(split)} of {len(layout.groups['tp'])} TP groups span servers (e.g. "
                f"ranks {describe_ranks(first)} on {', '.join(servers)}): tensor-parallel "
                f"all_reduce would run over RoCE instead of the in-server links; {advice}"
            ),
        )
    ]


def _ranks_per_server(rank_servers: Sequence[str]) -> int | None:
    counts: dict[str, int] = {}
    for s in rank_servers:
        counts[s] = counts.get(s, 0) + 1
    sizes = set(counts.values())
    return sizes.pop() if len(sizes) == 1 else None


def describe_ranks(ranks: Sequence[int]) -> str:
    """ClusterShell RangeSet syntax, strides folded: [0..7] -> '0-7'; [0, 8, 16, 24] ->
    '0-24/8'; [0, 3, 4] -> '0,3-4'; two ranks are never a stride: [0, 8] -> '0,8'."""
    return str(RangeSet(list(ranks), autostep=3)) if ranks else ""


def rank_servers_of(table: Any) -> list[str]:
    """Server of each rank from a RankTable (``console.core.ranktable.model``): rank_id ->
    server_id. InputError if the rank ids are not exactly 0..N-1."""
    by_rank: dict[int, str] = {}
    for _, _, server, device in table.devices():
        rank = int(device.rank_id)
        if rank in by_rank:
            raise InputError(f"rank_id {rank} appears twice (servers {by_rank[rank]} and {server.server_id})")
        by_rank[rank] = server.server_id
    world = len(by_rank)
    if sorted(by_rank) != list(range(world)):
        missing = sorted(set(range(world)) - set(by_rank))[:5]
        raise InputError(f"rank_id must be 0..{world - 1}; missing {missing}")
    return [by_rank[r] for r in range(world)]

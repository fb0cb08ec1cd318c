"""The grouped heatmap's cells are sums kept per group pair as results arrive
(``PingModel.set_groups`` / ``group_cell``): they must equal, after every kind of change, the
cell computed from scratch from the results themselves (re-runs overwriting a pair's result,
a worst loss that goes down, cancel, a sweep that fails, a re-run sweep on a base matrix)."""

from __future__ import annotations

import random

import pytest

from console.core.pingresults import PingMatrix, ProbeResult, loss_fields
from console.core.pingview import Cell, fields_cell
from console.core.planning.ping import PingPlan, Probe, plan_ping
from console.ops.ping import ProbeDone, SweepDone
from console.ui.models.ping import PingModel
from tests.ui.ping_fixtures import inventory

Key = tuple[str, int, str, int]
STATUS_LOSS = [
    ("ok", 0.0),
    ("ok", 0.0),
    ("loss", 33.33),
    ("loss", 66.67),
    ("loss", 12.5),
    ("unreachable", 100.0),
    ("link_down", None),
    ("timeout", None),
    ("error", None),
    ("skipped", None),
]


def _result(probe: Probe, rng: random.Random) -> ProbeResult:
    status, loss = rng.choice(STATUS_LOSS)
    return ProbeResult(probe=probe, status=status, loss_pct=loss, command=probe.command)  # type: ignore[arg-type]


class Mirror:
    """What the pane should show, kept from the events alone (no model code)."""

    def __init__(self) -> None:
        self.latest: dict[Key, ProbeResult] = {}
        self.pending: dict[frozenset[str], int] = {}

    def start(self, probes: list[Probe]) -> None:
        self.pending = {}
        for p in probes:
            if p.src_host != p.dst_host:
                pair = frozenset((p.src_host, p.dst_host))
                self.pending[pair] = self.pending.get(pair, 0) + 1

    def done(self, result: ProbeResult) -> None:
        p = result.probe
        self.latest[p.key] = result
        if p.src_host != p.dst_host:
            pair = frozenset((p.src_host, p.dst_host))
            self.pending[pair] = self.pending.get(pair, 0) - 1

    def cell(self, a: list[str], b: list[str]) -> tuple[Cell, int]:
        def between(x: str, y: str) -> bool:
            return x != y and ((x in a and y in b) or (x in b and y in a))

        results = [r for r in self.latest.values() if between(r.probe.src_host, r.probe.dst_host)]
        pending = sum(max(n, 0) for pair, n in self.pending.items() if between(*sorted(pair)))
        if not results:
            return Cell(text="-", status="untested"), pending
        return fields_cell(loss_fields(results), counted=True), pending


def _groups(hosts: list[str], rng: random.Random) -> list[list[str]]:
    """A random partition of all hosts but one: a group of one host, the others in 2-3 groups."""
    order = hosts[:]
    rng.shuffle(order)
    single, rest = order[:1], order[2:]  # order[1] is in no group
    cuts = sorted(rng.sample(range(1, len(rest)), rng.randint(1, 2)))
    return [single] + [rest[i:j] for i, j in zip([0, *cuts], [*cuts, len(rest)], strict=True)]


def _check(model: PingModel, mirror: Mirror, groups: list[list[str]]) -> None:
    for n in range(len(groups)):
        for m in range(len(groups)):
            assert model.group_cell(n, m) == mirror.cell(groups[n], groups[m]), (n, m, groups[n], groups[m])


def _sweep(
    model: PingModel,
    mirror: Mirror,
    probes: list[Probe],
    rng: random.Random,
    groups: list[list[str]],
    *,
    stop_after: int | None = None,
) -> list[ProbeResult]:
    """Results for ``probes`` in random order, some probes answered twice (a later answer
    overwrites), a group cell read now and then (so the sums are live, not rebuilt)."""
    order = probes[:]
    rng.shuffle(order)
    order += rng.sample(probes, len(probes) // 5)  # answered again: overwrites
    sent: list[ProbeResult] = []
    for n, p in enumerate(order[:stop_after], 1):
        result = _result(p, rng)
        model.apply(ProbeDone(result, n, len(order), None))
        mirror.done(result)
        sent.append(result)
        g, h = rng.randrange(len(groups)), rng.randrange(len(groups))
        assert model.group_cell(g, h) == mirror.cell(groups[g], groups[h])
        if n % 40 == 0:
            _check(model, mirror, groups)
    _check(model, mirror, groups)
    return sent


@pytest.mark.parametrize("seed", range(6))
def test_group_sums_equal_a_from_scratch_count_through_reruns_cancel_and_failure(seed: int) -> None:
    rng = random.Random(seed)
    inv = inventory(9, 2)
    plan = plan_ping(inv, "cross")
    probes = list(plan.probes)
    groups = _groups(plan.hosts, rng)
    model, mirror = PingModel(), Mirror()
    model.set_groups(groups)

    # a whole sweep, then its matrix shown
    model.start(plan)
    mirror.start(probes)
    _check(model, mirror, groups)
    _sweep(model, mirror, probes, rng, groups)
    finished = PingMatrix(pattern="cross", hosts=plan.hosts, results=list(mirror.latest.values()))
    model.apply(SweepDone(finished, False))
    model.end()
    mirror.pending = {}
    _check(model, mirror, groups)

    # a re-run of some probes on that matrix, cancelled part way (running ones no longer pending)
    again = rng.sample(probes, len(probes) // 3)
    model.start(PingPlan("cross", plan.hosts, again), base=model.finished)
    mirror.start(again)
    _check(model, mirror, groups)
    before = dict(mirror.latest)
    sent = _sweep(model, mirror, again, rng, groups, stop_after=len(again) // 2)
    retried = PingMatrix(pattern="cross", hosts=plan.hosts, results=sent)
    model.apply(SweepDone(retried, True))
    model.end(cancelled=True)
    mirror.latest = before | {r.probe.key: r for r in sent if r.status != "skipped"}
    mirror.pending = {}
    _check(model, mirror, groups)

    # a fresh sweep whose events stop without SweepDone (a failure): pending cleared
    model.start(plan)
    mirror.start(probes)
    mirror.latest = {}
    _sweep(model, mirror, probes, rng, groups, stop_after=len(probes) // 2)
    model.end(RuntimeError("lost"))
    mirror.pending = {}
    _check(model, mirror, groups)

    # other groups on the same results: summed again from scratch
    regrouped = _groups(plan.hosts, rng)
    model.set_groups(regrouped)
    _check(model, mirror, regrouped)


def test_group_cell_needs_groups() -> None:
    with pytest.raises(ValueError, match="set_groups"):
        PingModel().group_cell(0, 0)

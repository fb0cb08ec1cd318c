"""How long a ping sweep will take, before it starts: from the plan, the per-card and
per-server concurrency, and a per-probe time. Pure.

The sweep engine (``console.ops.ping``) runs the rounds of a plan one after the other; within
a round a card sends at most ``per_card`` probes at once and a server runs at most ``lanes``
(``--per-server``, capped by the SSH pool's channels per connection). A round thus needs at
least as many "waves" as its busiest card or server has probes divided by its width; the
estimate is the sum of those waves times ``probe_s``. ``hccn_tool -ping`` sends 3 packets a
second apart, so a good probe takes about 3 s (``PROBE_S``); once probes finish the sweep's
own ETA (``ProbeDone.eta_s``) uses the measured time instead.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from .probetable import ProbeTable

PROBE_S = 3.0


@dataclass(frozen=True)
class SweepEstimate:
    probes: int
    rounds: int
    waves: int
    """Probe slots one after the other on the busiest card or server, summed over rounds."""
    probe_s: float
    per_card: int
    lanes: int

    @property
    def seconds(self) -> float:
        return self.waves * self.probe_s

    def text(self) -> str:
        """e.g. ``8,184 probes, about 17 min (1,023 waves of ~3 s; 1 per card, 8 per server)``."""
        rounds = f", {self.rounds} rounds" if self.rounds > 1 else ""
        return (
            f"{self.probes:,} probes{rounds}, about {duration_text(self.seconds)} "
            f"({self.waves:,} waves of ~{self.probe_s:g} s; {self.per_card} per card, "
            f"{self.lanes} per server)"
        )


def duration_text(seconds: float) -> str:
    """``45 s``, ``17 min``, ``2 h 05 min``, ``3 d 4 h``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{math.ceil(s / 60)} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _waves(table: ProbeTable, src: Counter[int], per_card: int, lanes: int) -> int:
    if not src:
        return 0
    per_host: Counter[str] = Counter()
    for end, n in src.items():
        per_host[table.ends[end].host] += n
    return max(math.ceil(max(src.values()) / per_card), math.ceil(max(per_host.values()) / lanes))


def estimate(table: ProbeTable, *, per_card: int = 1, lanes: int = 8, probe_s: float = PROBE_S) -> SweepEstimate:
    """The estimate for running ``table`` (a plan's probes) with these limits."""
    batches = table.batches()
    waves = 0
    for batch in batches:
        if isinstance(batch, range) and len(batch) == len(table):
            counts: Counter[int] = Counter(table.src)
        else:
            src = table.src
            counts = Counter(src[i] for i in batch)
        waves += _waves(table, counts, per_card, lanes)
    return SweepEstimate(
        probes=len(table), rounds=len(batches), waves=waves, probe_s=probe_s, per_card=per_card, lanes=lanes
    )

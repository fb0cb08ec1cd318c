"""What the last ping sweep says about a rank table: the rank pairs whose cards lost
packets. The Rank table pane lists them as warnings, the Launch preflight as ``!`` checks."""

from __future__ import annotations

from dataclasses import dataclass

from console.core.diagnostic import Where
from console.core.pingresults import PingMatrix
from console.core.ranktable import RankTable
from console.core.ranktable.problems import dev as device_path
from console.core.ranktable.problems import where


@dataclass(frozen=True)
class LossyPair:
    ranks: tuple[int, int]
    ends: tuple[str, str]
    """``server_id dev N`` of each rank."""
    status: str
    loss_pct: float | None
    wheres: tuple[Where, Where]
    """The two devices in the rank table (JSON path, server and device indices)."""

    def describe(self) -> str:
        loss = (
            f"{self.loss_pct:.2f} % packet loss"
            if self.status == "loss" and self.loss_pct is not None
            else f"probe {self.status}" + (f" ({self.loss_pct:.0f} % loss)" if self.loss_pct else "")
        )
        return (
            f"ranks {self.ranks[0]} ({self.ends[0]}) <-> {self.ranks[1]} ({self.ends[1]}): "
            f"{loss} in the last ping sweep"
        )


def lossy_rank_pairs(table: RankTable | None, matrix: PingMatrix | None) -> list[LossyPair]:
    """Every rank pair of ``table`` whose cards lost packets (or failed a probe), by device IP,
    worst loss of both directions, in rank order."""
    if table is None or matrix is None:
        return []
    by_ip: dict[str, tuple[int, str, Where]] = {}
    for s_idx, server in enumerate(table.server_list):
        for d_idx, dev in enumerate(server.device):
            if dev.device_ip:
                by_ip[dev.device_ip] = (
                    int(dev.rank_id),
                    f"{server.server_id} dev {dev.device_id}",
                    where(device_path(s_idx, d_idx)),
                )
    found: dict[tuple[int, int], LossyPair] = {}
    for result in matrix.results:
        if result.status in ("ok", "skipped"):
            continue
        a, b = by_ip.get(result.probe.src_ip), by_ip.get(result.probe.dst_ip)
        if a is None or b is None or a[0] == b[0]:
            continue
        (ra, ea, pa), (rb, eb, pb) = sorted((a, b))
        pair = LossyPair((ra, rb), (ea, eb), result.status, result.loss_pct, (pa, pb))
        old = found.get(pair.ranks)
        if old is None or (pair.loss_pct or 0) > (old.loss_pct or 0):
            found[pair.ranks] = pair
    return [found[k] for k in sorted(found)]

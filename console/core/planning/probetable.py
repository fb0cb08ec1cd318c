"""A compact list of ping probes: an endpoint table plus three integer arrays.

A plan of a million probes as a million pydantic ``Probe`` objects costs about a gigabyte and
seconds to build; here a probe is two endpoint numbers and a round number (12 bytes), and a
``Probe`` is built only when someone reads it (``table[i]``, iteration). ``ProbeTable`` is a
``Sequence[Probe]``: code that reads ``plan.probes`` as a list keeps working. Pure.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple, overload

if TYPE_CHECKING:
    from .ping import Probe

NO_ROUND = -1


class End(NamedTuple):
    """A pingable device (one end of a probe). ``card`` is -1 when unknown."""

    host: str
    server_id: str | None
    device: int
    ip: str
    ipv6: bool
    card: int


class ProbeTable(Sequence["Probe"]):
    """Probes as ``(src end, dst end, round)`` rows over a shared endpoint table."""

    __slots__ = ("dst", "end_index", "ends", "rounds", "src")

    def __init__(self, ends: Iterable[End] = ()) -> None:
        self.ends: list[End] = []
        self.end_index: dict[End, int] = {}
        self.src = array("I")
        self.dst = array("I")
        self.rounds = array("i")
        for end in ends:
            self.end_id(end)

    @classmethod
    def of(cls, probes: Iterable[Probe]) -> ProbeTable:
        if isinstance(probes, ProbeTable):
            return probes
        table = cls()
        for p in probes:
            table.add_probe(p)
        return table

    def copy(self) -> ProbeTable:
        new = ProbeTable()
        new.ends, new.end_index = list(self.ends), dict(self.end_index)
        new.src, new.dst, new.rounds = array("I", self.src), array("I", self.dst), array("i", self.rounds)
        return new

    def end_id(self, end: End) -> int:
        """The number of ``end`` in the endpoint table (added when new)."""
        found = self.end_index.get(end)
        if found is None:
            found = self.end_index[end] = len(self.ends)
            self.ends.append(end)
        return found

    def add(self, src: int, dst: int, round_: int | None = None) -> int:
        """Append a probe between two endpoint numbers; its index."""
        self.src.append(src)
        self.dst.append(dst)
        self.rounds.append(NO_ROUND if round_ is None else round_)
        return len(self.src) - 1

    def add_probe(self, p: Probe) -> int:
        src = End(p.src_host, p.src_server_id, p.src_device, p.src_ip, p.ipv6, -1)
        dst = End(p.dst_host, p.dst_server_id, p.dst_device, p.dst_ip, p.ipv6, -1)
        return self.add(self.end_id(src), self.end_id(dst), p.round)

    def __len__(self) -> int:
        return len(self.src)

    @overload
    def __getitem__(self, i: int) -> Probe: ...
    @overload
    def __getitem__(self, i: slice) -> list[Probe]: ...
    def __getitem__(self, i: int | slice) -> Probe | list[Probe]:
        if isinstance(i, slice):
            return [self.probe(n) for n in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("probe index out of range")
        return self.probe(i)

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same probes (``plan.probes == []`` reads as before)."""
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # unhashable on purpose (mutable arrays)

    def __iter__(self) -> Iterator[Probe]:
        return (self.probe(i) for i in range(len(self)))

    def probe(self, i: int) -> Probe:
        from .ping import Probe

        s, d, r = self.ends[self.src[i]], self.ends[self.dst[i]], self.rounds[i]
        return Probe(
            src_host=s.host,
            src_server_id=s.server_id,
            src_device=s.device,
            src_ip=s.ip,
            dst_host=d.host,
            dst_server_id=d.server_id,
            dst_device=d.device,
            dst_ip=d.ip,
            ipv6=d.ipv6,
            round=None if r == NO_ROUND else r,
        )

    def key(self, i: int) -> tuple[str, int, str, int]:
        """``Probe.key`` of probe ``i`` without building the probe."""
        s, d = self.ends[self.src[i]], self.ends[self.dst[i]]
        return (s.host, s.device, d.host, d.device)

    def source(self, i: int) -> tuple[str, int]:
        s = self.ends[self.src[i]]
        return (s.host, s.device)

    def round_of(self, i: int) -> int | None:
        r = self.rounds[i]
        return None if r == NO_ROUND else r

    def batches(self) -> list[Sequence[int]]:
        """Probe indices grouped by round, in round order; unscheduled probes (no round) run
        first, as one batch. One batch of everything when nothing is scheduled."""
        n = len(self)
        if n == 0:
            return []
        if all(r == NO_ROUND for r in self.rounds):
            return [range(n)]
        by_round: dict[int, array[int]] = {}
        for i, r in enumerate(self.rounds):
            batch = by_round.get(r)
            if batch is None:
                batch = by_round[r] = array("I")
            batch.append(i)
        return [by_round[r] for r in sorted(by_round)]

    def nbytes(self) -> int:
        """Bytes held by the three arrays (the endpoint table is per device, not per probe)."""
        return sum(a.itemsize * len(a) for a in (self.src, self.dst, self.rounds))

"""Compact storage of ping results: one row of arrays per probe instead of one pydantic object.

A ``ProbeResult`` with its ``Probe`` and raw output costs a few kilobytes; a million of them
(a rail sweep of 128 servers) would be gigabytes. ``ResultTable`` keeps, per probe, its status,
counts, loss, round-trip times, duration, exit status and attempts in typed arrays (about 60
bytes), next to the plan's ``ProbeTable`` (12 bytes). What is rare stays in dicts keyed by
row: error lines, a command that is not ``<common prefix> + probe.command``, and the raw
output of every probe that was not ok. The raw output of an ok probe (about 160 bytes, and
nearly the same for every probe) is kept byte for byte but zlib-compressed, 64 outputs of one
source server per block (about 15 bytes each): ``--json`` still gives every probe's ``raw``.

``ResultTable`` is a ``Sequence[ProbeResult]``: ``table[i]`` builds the result of row ``i``
when read. Aggregates that must stay fast at a million rows (``counts``, ``status_of``,
``loss_of``) read the arrays directly. Pure.
"""

from __future__ import annotations

import math
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from .pingresults import ProbeResult, ProbeStatus
from .planning.ping import Probe
from .planning.probetable import ProbeTable

STATUSES: tuple[ProbeStatus, ...] = ("ok", "loss", "timeout", "unreachable", "link_down", "error", "skipped")
CODE: dict[str, int] = {s: n for n, s in enumerate(STATUSES)}
UNSET = -1
NONE_INT = -(2**31)
NAN = float("nan")
BLOCK = 64
_CACHE_BLOCKS = 64
_FLOATS = ("loss_pct", "rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "duration_s")


def _pack(texts: list[str]) -> bytes:
    data = [t.encode("utf-8", "surrogatepass") for t in texts]
    head = array("I", [len(d) for d in data])
    return zlib.compress(len(data).to_bytes(4, "little") + head.tobytes() + b"".join(data), 6)


def _unpack(blob: bytes) -> list[str]:
    raw = zlib.decompress(blob)
    count = int.from_bytes(raw[:4], "little")
    head = array("I")
    head.frombytes(raw[4 : 4 + 4 * count])
    out, pos = [], 4 + 4 * count
    for size in head:
        out.append(raw[pos : pos + size].decode("utf-8", "surrogatepass"))
        pos += size
    return out


class RawBlocks:
    """Texts stored zlib-compressed in blocks of ``BLOCK``, grouped by a key (the source
    server): a text's place is ``block * BLOCK + position``. Byte-exact round trip."""

    def __init__(self) -> None:
        self.blocks: list[bytes | None] = []  # None: the block still being filled
        self._open: dict[str, tuple[int, list[str]]] = {}
        self._cache: OrderedDict[int, list[str]] = OrderedDict()

    def put(self, group: str, text: str) -> int:
        block, texts = self._open.get(group) or (len(self.blocks), [])
        if not texts:
            self.blocks.append(None)
            self._open[group] = (block, texts)
        texts.append(text)
        place = block * BLOCK + len(texts) - 1
        if len(texts) == BLOCK:
            self.blocks[block] = _pack(texts)
            del self._open[group]
        return place

    def seal(self) -> None:
        """Compress the blocks still being filled (a finished sweep: nothing more comes)."""
        for block, texts in self._open.values():
            self.blocks[block] = _pack(texts)
        self._open.clear()

    def get(self, place: int) -> str:
        block, pos = divmod(place, BLOCK)
        blob = self.blocks[block]
        if blob is None:
            return next(texts for b, texts in self._open.values() if b == block)[pos]
        texts = self._cache.get(block)
        if texts is None:
            texts = self._cache[block] = _unpack(blob)
            if len(self._cache) > _CACHE_BLOCKS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(block)
        return texts[pos]

    def nbytes(self) -> int:
        return sum(len(b) for b in self.blocks if b is not None) + sum(
            len(t) for _, texts in self._open.values() for t in texts
        )


class ResultTable(Sequence[ProbeResult]):
    """Row ``i`` is the result of ``probes[i]`` (``UNSET`` until ``set``)."""

    def __init__(self, probes: ProbeTable | None = None) -> None:
        self.probes = probes if probes is not None else ProbeTable()
        n = len(self.probes)
        self.status = array("b", [UNSET]) * n
        self.transmitted = array("i", [NONE_INT]) * n
        self.received = array("i", [NONE_INT]) * n
        self.exit_status = array("i", [NONE_INT]) * n
        self.attempts = array("H", [0]) * n
        self.floats = {name: array("d", [NAN]) * n for name in _FLOATS}
        self.prefix = array("B", [0]) * n  # index into ``prefixes``; 255: full command in ``commands``
        self.raw_place = array("i", [UNSET]) * n
        self.prefixes: list[str] = [""]
        self.prefix_ids: dict[str, int] = {"": 0}
        self.commands: dict[int, str] = {}
        self.errors: dict[int, list[str]] = {}
        self.raws: dict[int, str] = {}
        self.ok_raws = RawBlocks()
        self.filled = 0
        self.fill_reason: str | None = None
        """Why the rows ``fill_unset`` marked skipped were not run (one string, not one a row)."""

    @classmethod
    def of(cls, results: Iterable[ProbeResult]) -> ResultTable:
        table = cls()
        for r in results:
            table.append(r)
        return table

    # ---- writing -----------------------------------------------------------------------

    def _grow(self) -> None:
        for col, blank in (
            (self.status, UNSET),
            (self.transmitted, NONE_INT),
            (self.received, NONE_INT),
            (self.exit_status, NONE_INT),
            (self.attempts, 0),
            (self.prefix, 0),
            (self.raw_place, UNSET),
        ):
            col.append(blank)
        for floats in self.floats.values():
            floats.append(NAN)

    def append(self, result: ProbeResult) -> int:
        """Add a row for ``result.probe`` (its own probe) and fill it."""
        i = self.probes.add_probe(result.probe)
        self._grow()
        self.set(i, result)
        return i

    def set(self, i: int, r: ProbeResult) -> None:
        """Row ``i`` (whose probe is ``r.probe``) takes ``r``; a row is set once."""
        if self.status[i] == UNSET:
            self.filled += 1
        self.status[i] = CODE[r.status]
        self.transmitted[i] = NONE_INT if r.transmitted is None else r.transmitted
        self.received[i] = NONE_INT if r.received is None else r.received
        self.exit_status[i] = NONE_INT if r.exit_status is None else r.exit_status
        self.attempts[i] = min(r.attempts, 65535)
        for name, col in self.floats.items():
            value = getattr(r, name)
            col[i] = NAN if value is None else value
        self._set_command(i, r.command, r.probe.command)
        self.errors.pop(i, None)
        if r.errors or r.status == "skipped":  # a skipped row's errors are its own, even if none
            self.errors[i] = list(r.errors)
        self.raws.pop(i, None)
        self.raw_place[i] = UNSET
        if r.status == "ok" and r.raw:
            self.raw_place[i] = self.ok_raws.put(r.probe.src_host, r.raw)
        elif r.raw:
            self.raws[i] = r.raw

    def _set_command(self, i: int, command: str, probe_command: str) -> None:
        self.commands.pop(i, None)
        if command.endswith(probe_command):
            prefix = command[: len(command) - len(probe_command)]
            n = self.prefix_ids.get(prefix)
            if n is None and len(self.prefixes) < 255:
                n = self.prefix_ids[prefix] = len(self.prefixes)
                self.prefixes.append(prefix)
            if n is not None:
                self.prefix[i] = n
                return
        self.prefix[i] = 255
        self.commands[i] = command

    def fill_unset(self, reason: str) -> None:
        """Every row without a result becomes ``skipped`` with ``reason`` (not run)."""
        if self.filled == len(self):
            return
        shared = self.fill_reason in (None, reason)
        self.fill_reason = reason if shared else self.fill_reason
        skipped = CODE["skipped"]
        for i, code in enumerate(self.status):
            if code == UNSET:
                self.status[i] = skipped
                self.prefix[i] = 0
                if not shared:
                    self.errors[i] = [reason]
                self.filled += 1

    def copy(self) -> ResultTable:
        """An independent table (the compressed raw blocks, append-only, are shared)."""
        new = ResultTable.__new__(ResultTable)
        new.__dict__.update(self.__dict__)
        new.probes = self.probes.copy()
        for name in ("status", "transmitted", "received", "exit_status", "attempts", "prefix", "raw_place"):
            setattr(new, name, array(getattr(self, name).typecode, getattr(self, name)))
        new.floats = {k: array("d", v) for k, v in self.floats.items()}
        new.prefixes, new.prefix_ids = list(self.prefixes), dict(self.prefix_ids)
        new.commands, new.errors, new.raws = dict(self.commands), dict(self.errors), dict(self.raws)
        return new

    # ---- reading -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.probes)

    @overload
    def __getitem__(self, i: int) -> ProbeResult: ...
    @overload
    def __getitem__(self, i: slice) -> list[ProbeResult]: ...
    def __getitem__(self, i: int | slice) -> ProbeResult | list[ProbeResult]:
        if isinstance(i, slice):
            return [self.result(n) for n in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("result index out of range")
        return self.result(i)

    def __iter__(self) -> Iterator[ProbeResult]:
        return (self.result(i) for i in range(len(self)))

    def is_set(self, i: int) -> bool:
        return self.status[i] != UNSET

    def status_of(self, i: int) -> ProbeStatus:
        return STATUSES[self.status[i]]

    def loss_of(self, i: int) -> float | None:
        value = self.floats["loss_pct"][i]
        return None if math.isnan(value) else value

    def command_of(self, i: int, probe: Probe | None = None) -> str:
        if self.prefix[i] == 255:
            return self.commands[i]
        return self.prefixes[self.prefix[i]] + (probe or self.probes.probe(i)).command

    def errors_of(self, i: int) -> list[str]:
        found = self.errors.get(i)
        if found is not None:
            return list(found)
        if self.fill_reason is not None and self.status[i] == CODE["skipped"]:
            return [self.fill_reason]  # filled by ``fill_unset``: no entry per row
        return []

    def raw_of(self, i: int) -> str:
        place = self.raw_place[i]
        return self.ok_raws.get(place) if place != UNSET else self.raws.get(i, "")

    def result(self, i: int, probe: Probe | None = None) -> ProbeResult:
        """Row ``i`` as a ``ProbeResult`` (``LookupError`` while it is unset)."""
        if self.status[i] == UNSET:
            raise LookupError(f"no result yet for probe {i}")
        probe = probe or self.probes.probe(i)

        def opt_int(col: array[int], none: int = NONE_INT) -> int | None:
            return None if col[i] == none else col[i]

        floats = {name: (None if math.isnan(col[i]) else col[i]) for name, col in self.floats.items()}
        return ProbeResult(
            probe=probe,
            status=STATUSES[self.status[i]],
            transmitted=opt_int(self.transmitted),
            received=opt_int(self.received),
            exit_status=opt_int(self.exit_status),
            attempts=self.attempts[i],
            command=self.command_of(i, probe),
            raw=self.raw_of(i),
            errors=self.errors_of(i),
            **floats,
        )

    def counts(self) -> list[int]:
        """Rows per status code (``STATUSES`` order); unset rows are not counted."""
        out = [0] * len(STATUSES)
        for code in self.status:
            if code >= 0:
                out[code] += 1
        return out

    def nbytes(self) -> int:
        """Bytes held per row in arrays and compressed raw output (dicts of rare rows not
        counted; the bench measures the process instead)."""
        cols: list[array[int]] = [
            self.status,
            self.transmitted,
            self.received,
            self.exit_status,
            self.attempts,
            self.prefix,
            self.raw_place,
        ]
        floats = sum(c.itemsize * len(c) for c in self.floats.values())
        return sum(c.itemsize * len(c) for c in cols) + floats + self.ok_raws.nbytes() + self.probes.nbytes()

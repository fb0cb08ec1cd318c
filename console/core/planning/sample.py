"""The ``sample`` ping pattern: each device pings K random devices of other servers.

Round k (0 <= k < K) gives every device exactly one probe. Servers are placed on a circle in
a random (seeded) order; in round k, device c of the server at position p pings a device of
the server at position ``p + offsets[k * C + c]`` (C = that server's device count), and which
device there is a random permutation of the device positions drawn for round k. With equal
device counts every device is thus the source of one probe and the destination of one probe
per round, and a server pair is probed whenever one of the two offsets between them is among
the first ``K * C`` offsets.

``offsets`` is a random order of 1..G-1 (G servers) that starts with one offset of every pair
class ``{d, G - d}``: the first ``G // 2`` offsets alone cover every server pair, so
``K = ceil((G // 2) / C_min)`` rounds cover them all (``rounds_to_cover``; the default K).
A device stops once it has pinged every other server (``K * C > G - 1``). Pure; ``random``
with an explicit seed, so a plan is the same for the same inventory and seed.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError
from .probetable import ProbeTable


@dataclass(frozen=True)
class SampleInfo:
    k: int
    """Probes per device asked for (one per round)."""
    seed: int
    rounds_to_cover: int
    """The least K that covers every server pair."""
    covers_all: bool
    """Whether every pair of servers with pingable devices has at least one probe."""


def rounds_to_cover(sizes: Sequence[int]) -> int:
    """Rounds (probes per device) after which every server pair is covered."""
    sizes = [n for n in sizes if n]
    if len(sizes) < 2:
        return 0
    return math.ceil((len(sizes) // 2) / min(sizes))


def _offsets(servers: int, rng: random.Random) -> list[int]:
    classes = list(range(1, servers // 2 + 1))
    rng.shuffle(classes)
    first = [d if rng.random() < 0.5 else servers - d for d in classes]
    rest = [servers - d for d in first if servers - d != d]
    rng.shuffle(rest)
    return first + rest


def plan_sample(table: ProbeTable, groups: list[list[int]], k: int | None, seed: int) -> SampleInfo:
    """Append the sample probes over ``groups`` (endpoint numbers per server) to ``table``."""
    if k is not None and k < 1:
        raise InputError(f"--sample-k must be at least 1, not {k}")
    groups = [g for g in groups if g]
    need = rounds_to_cover([len(g) for g in groups])
    k = need if k is None else k
    info = SampleInfo(k=k, seed=seed, rounds_to_cover=need, covers_all=k >= need)
    count = len(groups)
    if count < 2:
        return info
    rng = random.Random(seed)
    order = list(range(count))
    rng.shuffle(order)  # order[position] = group
    offsets = _offsets(count, rng)
    widest = max(len(g) for g in groups)
    by_pos = [groups[g] for g in order]
    if len({len(ids) for ids in by_pos}) == 1:
        _uniform(table, by_pos, offsets, k, rng)
        return info
    arrays = [array("I", ids) for ids in by_pos]
    for rnd in range(k):
        pick = list(range(widest))
        rng.shuffle(pick)
        emitted = False
        for pos, ids in enumerate(by_pos):
            first = rnd * len(ids)
            cards = min(len(ids), count - 1 - first)  # a device stops once it has met every server
            if cards <= 0:
                continue
            targets = [by_pos[(pos + offsets[first + c]) % count] for c in range(cards)]
            table.src.extend(arrays[pos][:cards])
            table.dst.extend(array("I", [t[pick[c] % len(t)] for c, t in enumerate(targets)]))
            table.rounds.extend(array("i", [rnd]) * cards)
            emitted = True
        if not emitted:
            break
    return info


def _uniform(table: ProbeTable, by_pos: list[list[int]], offsets: list[int], k: int, rng: random.Random) -> None:
    """``plan_sample`` when every server has the same device count C, a column at a time:
    device c of every server pings device pick[c] of the server ``offset`` places on, which
    is column pick[c] rotated by ``offset`` (array slices: C-speed)."""
    count, size = len(by_pos), len(by_pos[0])
    columns = [array("I", [ids[c] for ids in by_pos]) for c in range(size)]
    for rnd in range(k):
        pick = list(range(size))
        rng.shuffle(pick)
        cards = min(size, count - 1 - rnd * size)
        if cards <= 0:
            break
        for c in range(cards):
            shift = offsets[rnd * size + c] % count
            target = columns[pick[c]]
            table.src.extend(columns[c])
            table.dst.extend(target[shift:])
            table.dst.extend(target[:shift])
            table.rounds.extend(array("i", [rnd]) * count)

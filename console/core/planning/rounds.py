"""Round scheduling for the pairwise ping pattern: every item in at most one pair per round.

``schedule_pairwise`` pairs every item with every item of every OTHER group exactly once
(groups are servers, items their devices). It builds two schedules and keeps the shorter:

* the round-robin circle method over all items, dropping same-group pairs: at most n-1
  rounds (n even) or n (n odd), whatever the group sizes;
* a group schedule: each group split in two halves; the circle method over the halves, with
  its first round being exactly "each group's two halves together" (a round we then drop);
  every remaining round pairs two halves of different groups, whose items are matched by a
  cyclic Latin square. For k groups of m items each, m even, this takes (k-1)*m = n-m rounds:
  the least possible, since every item has n-m partners and meets one per round.

``pack_rounds`` is first-fit packing of given pairs into rounds (used for retries).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)
Pair = tuple[T, T]
Slot = tuple[int, int]
"""(group index, index in the group)"""


def circle_rounds(count: int) -> list[list[tuple[int, int]]]:
    """Round-robin (circle method) over positions ``0..count-1``: ``count-1`` rounds when
    ``count`` is even, ``count`` rounds (each with one position resting) when odd.
    Round 0 pairs position i with position ``size-1-i``."""
    size = count + (count % 2)
    if size < 2:
        return []
    ring = list(range(1, size))
    rounds: list[list[tuple[int, int]]] = []
    for _ in range(size - 1):
        order = [0, *ring]
        pairs = [(order[i], order[size - 1 - i]) for i in range(size // 2)]
        rounds.append([(a, b) for a, b in pairs if a < count and b < count])
        ring = ring[-1:] + ring[:-1]
    return rounds


def _oriented(a: tuple[int, int], b: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    return (a, b) if a <= b else (b, a)


def _by_circle(groups: Sequence[Sequence[T]]) -> list[list[Pair[T]]]:
    flat = [(g, i) for g, items in enumerate(groups) for i in range(len(items))]
    rounds: list[list[Pair[T]]] = []
    for batch in circle_rounds(len(flat)):
        pairs = [_oriented(flat[a], flat[b]) for a, b in batch if flat[a][0] != flat[b][0]]
        if pairs:
            rounds.append([(groups[a[0]][a[1]], groups[b[0]][b[1]]) for a, b in sorted(pairs)])
    return rounds


def _latin(left: Sequence[tuple[int, int]], right: Sequence[tuple[int, int]]) -> list[list[tuple[Slot, Slot]]]:
    """All |left|x|right| pairs in max(|left|, |right|) rounds, each item once per round."""
    small, big = (left, right) if len(left) <= len(right) else (right, left)
    if not small:
        return []
    return [[_oriented(small[i], big[(i + t) % len(big)]) for i in range(len(small))] for t in range(len(big))]


def _by_halves(groups: Sequence[Sequence[T]]) -> list[list[Pair[T]]]:
    k = len(groups)
    halves: list[list[tuple[int, int]]] = [[] for _ in range(2 * k)]
    for g, items in enumerate(groups):
        cut = (len(items) + 1) // 2
        # position g and position 2k-1-g meet in circle round 0: the two halves of group g
        halves[g] = [(g, i) for i in range(cut)]
        halves[2 * k - 1 - g] = [(g, i) for i in range(cut, len(items))]
    rounds: list[list[Pair[T]]] = []
    for batch in circle_rounds(2 * k)[1:]:
        subrounds = [_latin(halves[a], halves[b]) for a, b in batch]
        for t in range(max((len(s) for s in subrounds), default=0)):
            pairs = sorted(p for s in subrounds if t < len(s) for p in s[t])
            if pairs:
                rounds.append([(groups[a[0]][a[1]], groups[b[0]][b[1]]) for a, b in pairs])
    return rounds


def schedule_pairwise(groups: Sequence[Sequence[T]]) -> list[list[Pair[T]]]:
    """Rounds of pairs ``(a, b)``: a from an earlier group than b, every cross-group pair
    exactly once, no item twice in a round, no empty round."""
    groups = [g for g in groups if g]  # an empty group would only leave holes in the rounds
    by_circle = _by_circle(groups)
    by_halves = _by_halves(groups)
    return by_halves if len(by_halves) <= len(by_circle) else by_circle


def pack_rounds(pairs: Sequence[tuple[Hashable, Hashable]]) -> list[int]:
    """First-fit: the round number of each pair such that no endpoint is in two pairs of
    one round (pairs keep their order of preference)."""
    busy: list[set[Hashable]] = []
    numbers: list[int] = []
    for a, b in pairs:
        number = next((k for k, used in enumerate(busy) if a not in used and b not in used), len(busy))
        if number == len(busy):
            busy.append(set())
        busy[number].update((a, b))
        numbers.append(number)
    return numbers

"""The sample ping pattern, the default pattern by cluster size, and the compact probe table."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.errors import InputError
from console.core.inventory import Device, Inventory, Server
from console.core.planning.ping import PingPlan, default_pattern, plan_ping
from console.core.planning.sample import rounds_to_cover
from tests.unit.pingfixtures import host, make_inventory, make_server


def big_inventory(servers: int, cards: int) -> Inventory:
    """Valid addresses past 256 servers (``make_server`` numbers hosts 127.0.0.11 on)."""
    return Inventory(
        servers=[
            Server(
                host=f"n{i}",
                server_id=f"10.0.{i // 256}.{i % 256}",
                reachable=True,
                product="A2",
                devices=[
                    Device(device_id=d, card=d, device_ip=f"10.{100 + i // 256}.{i % 256}.{d + 1}")
                    for d in range(cards)
                ],
            )
            for i in range(servers)
        ]
    )


def _server_pairs(plan: PingPlan) -> set[frozenset[str]]:
    return {frozenset((p.src_host, p.dst_host)) for p in plan.probes}


def _per_round(plan: PingPlan, side: str) -> Counter[tuple[int | None, str, int]]:
    return Counter((p.round, getattr(p, f"{side}_host"), getattr(p, f"{side}_device")) for p in plan.probes)


@pytest.mark.parametrize(("servers", "cards"), [(2, 8), (3, 2), (17, 8), (40, 4), (64, 8), (9, 1)])
def test_sample_default_k_covers_every_server_pair(servers: int, cards: int) -> None:
    plan = plan_ping(make_inventory(servers, cards), "sample", seed=7)
    assert plan.sample is not None and plan.sample.covers_all
    assert plan.sample.k == rounds_to_cover([cards] * servers) == -(-(servers // 2) // cards)
    assert _server_pairs(plan) == {frozenset(pair) for pair in combinations(map(host, range(servers)), 2)}
    assert all(p.src_host != p.dst_host for p in plan.probes)


@pytest.mark.parametrize(("servers", "cards", "k"), [(64, 8, 4), (17, 8, 1), (64, 8, 9), (5, 2, 3)])
def test_sample_per_card_limits(servers: int, cards: int, k: int) -> None:
    """Every card sends one probe per round and receives at most one; K rounds at most, fewer
    only once the card has met every other server."""
    plan = plan_ping(make_inventory(servers, cards), "sample", sample_k=k, seed=3)
    assert max(_per_round(plan, "src").values()) == 1
    assert max(_per_round(plan, "dst").values()) == 1
    sent = Counter((p.src_host, p.src_device) for p in plan.probes)
    # device d's slot in round r is r * cards + d; it stops once it has met the other servers
    assert sent == {
        (host(i), d): sum(r * cards + d < servers - 1 for r in range(k))
        for i in range(servers)
        for d in range(cards)
        if d < servers - 1
    }
    assert sorted({p.round for p in plan.probes}) == list(range(min(k, -(-(servers - 1) // cards))))
    pairs = Counter(p.key for p in plan.probes)
    assert max(pairs.values()) == 1  # no probe twice
    dst_servers = Counter((p.src_host, p.src_device, p.dst_host) for p in plan.probes)
    assert max(dst_servers.values()) == 1  # a card never pings one server twice


def test_sample_1024_servers_covers_every_pair_in_64_rounds() -> None:
    plan = plan_ping(big_inventory(1024, 8), "sample", seed=1)
    assert plan.sample is not None and (plan.sample.k, plan.sample.covers_all) == (64, True)
    assert len(plan.probes) == 1024 * 8 * 64
    table = plan.probes
    server = [int(e.host[1:]) for e in table.ends]
    pairs = {
        min(server[s], server[d]) * 1024 + max(server[s], server[d]) for s, d in zip(table.src, table.dst, strict=True)
    }
    assert len(pairs) == 1024 * 1023 // 2


def test_sample_is_deterministic_for_a_seed_and_differs_between_seeds() -> None:
    inv = make_inventory(20, 4)
    keys = [p.key for p in plan_ping(inv, "sample", seed=11).probes]
    assert keys == [p.key for p in plan_ping(inv, "sample", seed=11).probes]
    assert keys != [p.key for p in plan_ping(inv, "sample", seed=12).probes]


def test_sample_below_cover_says_so_and_bad_k_is_refused() -> None:
    plan = plan_ping(make_inventory(64, 8), "sample", sample_k=1)
    assert plan.sample is not None and not plan.sample.covers_all and plan.sample.rounds_to_cover == 4
    assert len(plan.probes) == 64 * 8
    with pytest.raises(InputError, match="at least 1"):
        plan_ping(make_inventory(4, 2), "sample", sample_k=0)


def test_sample_skips_unreachable_and_uneven_servers_still_covered() -> None:
    servers = [
        make_server(0, 8),
        make_server(1, 2),
        make_server(2, 8, reachable=False),
        *(make_server(i, 4 if i % 2 else 8) for i in range(3, 12)),
        make_server(12, 8, no_ip=tuple(range(8))),
    ]
    plan = plan_ping(Inventory(servers=servers), "sample", seed=5)
    probed = {host(i) for i in range(12) if i != 2}
    assert plan.sample is not None and plan.sample.covers_all
    assert _server_pairs(plan) == {frozenset(pair) for pair in combinations(sorted(probed), 2)}
    assert max(_per_round(plan, "src").values()) == 1
    assert any(s.host == host(2) and s.device is None for s in plan.skipped)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=2, max_size=24), seed=st.integers(0, 10**6))
def test_sample_covers_every_pair_for_any_device_counts(sizes: list[int], seed: int) -> None:
    inv = Inventory(servers=[make_server(i, n) for i, n in enumerate(sizes)])
    plan = plan_ping(inv, "sample", seed=seed)
    assert _server_pairs(plan) == {frozenset(pair) for pair in combinations(map(host, range(len(sizes))), 2)}
    assert max(_per_round(plan, "src").values()) == 1


def test_default_pattern_is_rail_above_16_servers() -> None:
    assert default_pattern(1) == default_pattern(16) == "cross"
    assert default_pattern(17) == default_pattern(1024) == "rail"


def test_plan_keeps_probes_compactly() -> None:
    """12 bytes a probe in the table; a Probe is built only when read, and reads the same."""
    plan = plan_ping(make_inventory(40, 8), "rail")
    assert len(plan.probes) == 40 * 39 * 8
    assert plan.probes.nbytes() == 12 * len(plan.probes)
    p = plan.probes[-1]
    assert (p.src_host, p.src_device, p.dst_host, p.dst_device) == (host(39), 7, host(38), 7)
    assert plan.probes.key(len(plan.probes) - 1) == p.key
    assert PingPlan("retry", probes=list(plan.probes[:5])).probes == plan.probes[:5]


def test_estimate_counts_waves_of_the_busiest_card_or_server() -> None:
    """rail 64x8: each card 63 probes one at a time -> 63 waves of 3 s; cross 2x8: 8 per card,
    64 per server over 8 lanes -> 8; sample 1024x8: 64 rounds of one probe per card -> 64."""
    from console.core.planning.estimate import duration_text, estimate

    rail = estimate(plan_ping(make_inventory(64, 8), "rail").probes)
    assert (rail.probes, rail.rounds, rail.waves, rail.seconds) == (64 * 63 * 8, 1, 63, 189.0)
    assert rail.text() == "32,256 probes, about 4 min (63 waves of ~3 s; 1 per card, 8 per server)"
    assert estimate(plan_ping(make_inventory(2, 8)).probes, lanes=4).waves == 16  # 64 per server / 4
    assert estimate(plan_ping(make_inventory(2, 8)).probes, per_card=2).waves == 8  # then lanes bind
    sample = estimate(plan_ping(big_inventory(1024, 8), "sample").probes)
    assert (sample.probes, sample.rounds, sample.waves) == (1024 * 8 * 64, 64, 64)
    assert [duration_text(s) for s in (45, 189, 7500, 200000)] == ["45 s", "4 min", "2 h 05 min", "2 d 7 h"]

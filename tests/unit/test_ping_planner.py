"""Probe planner: patterns, exact commands, skips, A3 dies, custom pair files, pairwise rounds."""

from __future__ import annotations

import re
from collections import Counter
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.errors import InputError
from console.core.inventory import Inventory
from console.core.planning.ping import (
    PingPlan,
    parse_custom_pairs,
    plan_ping,
    schedule_pairwise,
)
from tests.unit.pingfixtures import device_ip, host, make_inventory, make_server

CMD_RE = re.compile(r"^hccn_tool -i ([0-9]+) -ping -g address ([0-9.]+)$")


def _keys(plan: PingPlan) -> list[tuple[str, int, str, int]]:
    return [(p.src_host, p.src_device, p.dst_host, p.dst_device) for p in plan.probes]


def _assert_rounds_disjoint(plan: PingPlan) -> None:
    for batch in plan.rounds():
        used = [(p.src_host, p.src_device) for p in batch] + [(p.dst_host, p.dst_device) for p in batch]
        assert len(used) == len(set(used)), f"a device is in two probes of round {batch[0].round}"


# -- cross ------------------------------------------------------------------------------------


def test_cross_2x8_is_128_probes_with_exact_commands():
    plan = plan_ping(make_inventory(2, 8))
    assert plan.pattern == "cross"
    assert len(plan.probes) == 128
    expected = {(host(s), i, host(1 - s), j) for s in (0, 1) for i in range(8) for j in range(8)}
    assert set(_keys(plan)) == expected and len(set(_keys(plan))) == 128
    for p in plan.probes:
        assert p.command == f"hccn_tool -i {p.src_device} -ping -g address {p.dst_ip}"
        assert p.dst_ip == device_ip(int(p.dst_host.rsplit(".", 1)[1]) - 11, p.dst_device)
        assert p.src_ip == device_ip(int(p.src_host.rsplit(".", 1)[1]) - 11, p.src_device)
        assert p.round is None and p.ipv6 is False
        assert p.src_server_id == p.src_host and p.dst_server_id == p.dst_host
    one = next(p for p in plan.probes if p.key == (host(0), 3, host(1), 5))
    assert one.command == "hccn_tool -i 3 -ping -g address 10.20.1.6"
    assert plan.skipped == []
    assert plan.hosts == [host(0), host(1)]


def test_cross_3_servers_never_pings_its_own_server():
    plan = plan_ping(make_inventory(3, 4), "cross")
    assert len(plan.probes) == 3 * 4 * 8
    assert all(p.src_host != p.dst_host for p in plan.probes)


# -- rail -------------------------------------------------------------------------------------


def test_rail_2x8_is_16_probes_on_matching_devices():
    plan = plan_ping(make_inventory(2, 8), "rail")
    assert len(plan.probes) == 16
    assert all(p.src_device == p.dst_device and p.src_host != p.dst_host for p in plan.probes)
    assert Counter(p.src_device for p in plan.probes) == {i: 2 for i in range(8)}


def test_rail_names_missing_counterpart():
    inv = Inventory(servers=[make_server(0, 8), make_server(1, 6)])
    plan = plan_ping(inv, "rail")
    assert len(plan.probes) == 12
    missing = [s for s in plan.skipped if s.device in (6, 7)]
    assert {(s.host, s.device, s.dst_host) for s in missing} == {(host(0), 6, host(1)), (host(0), 7, host(1))}
    assert all("no device" in s.reason for s in missing)


# -- pairwise ---------------------------------------------------------------------------------


def test_pairwise_2x8_rounds():
    plan = plan_ping(make_inventory(2, 8), "pairwise")
    pairs = [frozenset({(p.src_host, p.src_device), (p.dst_host, p.dst_device)}) for p in plan.probes]
    expected = {frozenset({(host(0), i), (host(1), j)}) for i in range(8) for j in range(8)}
    assert Counter(pairs) == {pair: 1 for pair in expected}
    _assert_rounds_disjoint(plan)
    # every card pings 8 peers and can do one a round: 8 rounds is the least possible
    assert len(plan.rounds()) == 8
    assert sorted({p.round for p in plan.probes}) == list(range(8))
    assert all(len(batch) == 8 for batch in plan.rounds())


@pytest.mark.parametrize(("servers", "devices"), [(3, 8), (4, 16), (5, 2), (2, 1), (3, 3)])
def test_pairwise_each_cross_pair_once_and_rounds_bounded(servers, devices):
    plan = plan_ping(make_inventory(servers, devices, product="A3" if devices == 16 else "A2"), "pairwise")
    n = servers * devices
    pairs = Counter(frozenset({(p.src_host, p.src_device), (p.dst_host, p.dst_device)}) for p in plan.probes)
    assert set(pairs.values()) == {1}
    assert len(pairs) == n * (n - devices) // 2
    _assert_rounds_disjoint(plan)
    degree = n - devices
    assert degree <= len(plan.rounds()) <= (n - 1 if n % 2 == 0 else n)
    if devices % 2 == 0:
        assert len(plan.rounds()) == degree


def test_pairwise_single_server_has_no_probes():
    assert plan_ping(make_inventory(1, 8), "pairwise").probes == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=9), max_size=7))
def test_schedule_properties_on_random_clusters(sizes):
    groups = [[(g, i) for i in range(size)] for g, size in enumerate(sizes)]
    rounds = schedule_pairwise(groups)
    seen: Counter[frozenset] = Counter()
    for batch in rounds:
        assert batch, "no empty rounds"
        flat = [x for pair in batch for x in pair]
        assert len(flat) == len(set(flat)), "an item twice in one round"
        for a, b in batch:
            assert a[0] < b[0], "pairs cross servers, lower server first"
            seen[frozenset({a, b})] += 1
    expected = {frozenset({a, b}) for ga, gb in combinations(groups, 2) for a in ga for b in gb}
    assert set(seen) == expected and set(seen.values()) <= {1}
    n = sum(sizes)
    degree = max((n - s for s in sizes if s), default=0) if len([s for s in sizes if s]) > 1 else 0
    assert len(rounds) >= degree
    if expected:
        assert len(rounds) <= (n - 1 if n % 2 == 0 else n)
    nonempty = [s for s in sizes if s]
    if len(set(nonempty)) == 1 and nonempty[0] % 2 == 0 and len(nonempty) > 1:
        assert len(rounds) == degree


# -- A3 dies, IPv6, skips ---------------------------------------------------------------------


def test_a3_cross_and_custom_never_pair_dies_of_one_card():
    inv = make_inventory(2, 16, product="A3", with_card=False)
    for pattern in ("cross", "rail", "pairwise"):
        plan = plan_ping(inv, pattern)
        assert all(not (p.src_host == p.dst_host and p.src_device // 2 == p.dst_device // 2) for p in plan.probes)
    text = f"{host(0)}:0 {host(0)}:1\n{host(0)}:3 {host(0)}:2\n{host(0)}:0 {host(0)}:2\n"
    plan = plan_ping(inv, "custom", custom_text=text)
    assert _keys(plan) == [(host(0), 0, host(0), 2)]
    dies = [s for s in plan.skipped if s.dst_device is not None]
    assert {(s.device, s.dst_device) for s in dies} == {(0, 1), (3, 2)}
    assert all("A3" in s.reason and "line" in s.reason for s in dies)


def test_a3_card_from_npu_smi_card_field():
    inv = make_inventory(1, 16, product="A3", with_card=True)
    plan = plan_ping(inv, "custom", custom_text=f"{host(0)} 4 {host(0)} 5\n{host(0)} 5 {host(0)} 6\n")
    assert _keys(plan) == [(host(0), 5, host(0), 6)]


def test_ipv6_command():
    plan = plan_ping(make_inventory(2, 2, v6=True), "rail")
    assert len(plan.probes) == 4
    p = next(p for p in plan.probes if p.src_host == host(0) and p.src_device == 1)
    assert p.ipv6 is True
    assert p.command == "hccn_tool -i 1 -ping -inet6 -g ipv6_address fd00::2:2"


def test_mixed_families_skip_the_minority():
    inv = Inventory(servers=[make_server(0, 2), make_server(1, 2), make_server(2, 2, v6=True)])
    plan = plan_ping(inv)
    assert {p.dst_host for p in plan.probes} == {host(0), host(1)}
    v6 = [s for s in plan.skipped if s.host == host(2)]
    assert [s.device for s in v6] == [0, 1] and all("IPv6" in s.reason for s in v6)


def test_unreachable_server_and_device_without_ip_are_skipped():
    inv = Inventory(servers=[make_server(0, 8), make_server(1, 8, no_ip=(7,)), make_server(2, 8, reachable=False)])
    plan = plan_ping(inv)
    assert len(plan.probes) == 8 * 7 * 2
    assert all(host(2) not in (p.src_host, p.dst_host) for p in plan.probes)
    assert all(not (p.dst_host == host(1) and p.dst_device == 7) for p in plan.probes)
    by_host = {(s.host, s.device): s.reason for s in plan.skipped}
    assert "unreachable" in by_host[(host(2), None)] and "connection refused" in by_host[(host(2), None)]
    assert "no device IP" in by_host[(host(1), 7)]
    assert plan.hosts == [host(0), host(1), host(2)]


def test_bad_device_ip_is_skipped_not_sent_to_a_shell():
    inv = make_inventory(2, 2)
    inv.servers[1].devices[0].device_ip = "10.0.0.1; reboot"
    plan = plan_ping(inv)
    assert all("reboot" not in p.command for p in plan.probes)
    assert any("not an IP address" in s.reason for s in plan.skipped)


def test_unknown_pattern_is_an_input_error():
    with pytest.raises(InputError, match="pattern"):
        plan_ping(make_inventory(), "mesh")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="pair"):
        plan_ping(make_inventory(), "custom")


# -- custom pair files ------------------------------------------------------------------------


def test_custom_pairs_both_syntaxes_and_comments():
    text = (
        "# rail 3 check\n"
        f"{host(0)}:3 {host(1)}:5   # trailing comment\n"
        "\n"
        f"{host(1)} 0 {host(0)} 7\n"
        f"{host(0)}:3 {host(1)}:5\n"  # duplicate: planned once
    )
    plan = plan_ping(make_inventory(2, 8), "custom", custom_text=text)
    assert plan.pattern == "custom"
    assert _keys(plan) == [(host(0), 3, host(1), 5), (host(1), 0, host(0), 7)]
    assert plan.probes[0].command == "hccn_tool -i 3 -ping -g address 10.20.1.6"


def test_custom_bracketed_ipv6_host():
    pairs = parse_custom_pairs("[fd00::1]:3 host-b:4\n")
    got = [(a.host, a.device, b.host, b.device, a.line) for a, b in pairs]
    assert got == [("fd00::1", 3, "host-b", 4, 1)]


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        (f"{host(0)}:3 {host(1)}", "HOST:DEV HOST:DEV"),
        (f"{host(0)}:x {host(1)}:5", "device"),
        (f"{host(0)} 3 {host(1)} -1", "device"),
        (f"{host(0)}:3 {host(1)}:5 extra", "HOST:DEV HOST:DEV"),
        (f"nosuchhost:3 {host(1)}:5", "nosuchhost"),
        (f"{host(0)}:9 {host(1)}:5", "no device 9"),
        (f"{host(0)}:2 {host(0)}:2", "itself"),
    ],
)
def test_custom_bad_line_names_line_number(line, needle):
    text = f"# header\n{host(0)}:0 {host(1)}:0\n{line}\n"
    with pytest.raises(InputError) as err:
        plan_ping(make_inventory(2, 8), "custom", custom_text=text, custom_path="pairs.txt")
    message = str(err.value)
    assert "line 3" in message and needle in message and "pairs.txt" in message
    assert err.value.path == "pairs.txt"


def test_custom_empty_file_is_an_error():
    with pytest.raises(InputError, match="no pairs"):
        plan_ping(make_inventory(), "custom", custom_text="# nothing\n\n")


def test_custom_unreachable_or_no_ip_is_skipped_with_line():
    inv = Inventory(servers=[make_server(0, 4, no_ip=(2,)), make_server(1, 4, reachable=False)])
    text = f"{host(0)}:0 {host(1)}:1\n{host(0)}:2 {host(0)}:1\n{host(0)}:0 {host(0)}:1\n"
    plan = plan_ping(inv, "custom", custom_text=text)
    assert _keys(plan) == [(host(0), 0, host(0), 1)]
    reasons = " | ".join(s.reason for s in plan.skipped)
    assert "line 1" in reasons and "unreachable" in reasons
    assert "line 2" in reasons and "no device IP" in reasons

"""The grouped heatmap: blocks of servers (or switches), drill-down to server pairs, then cards."""

from __future__ import annotations

from console.core.pingresults import PingMatrix, ProbeResult
from console.core.pingview import (
    block_size,
    block_view,
    card_view,
    group_servers,
    group_view,
    server_view,
)
from console.core.planning.ping import plan_ping
from tests.unit.pingfixtures import host, make_inventory

OK = (
    "device {d} PING {ip}\nrecv seq=0,time=0.067000ms\nrecv seq=1,time=0.049000ms\n"
    "recv seq=2,time=0.047000ms\n3 packets transmitted, 3 received, 0.00% packet loss\n"
)
LOSS = (
    "device {d} PING {ip}\nrecv seq=0,time=0.067000ms\nrecv time out seq=1\n"
    "recv seq=2,time=0.047000ms\n3 packets transmitted, 2 received, 33.33% packet loss\n"
)


def _swept(servers: int, lossy: tuple[int, int, int]) -> PingMatrix:
    """A rail sweep where server ``lossy[0]`` card ``lossy[2]`` -> server ``lossy[1]`` loses a third."""
    plan = plan_ping(make_inventory(servers, 4), "rail")
    results = []
    for p in plan.probes:
        bad = (p.src_host, p.dst_host, p.src_device) == (host(lossy[0]), host(lossy[1]), lossy[2])
        text = (LOSS if bad else OK).format(d=p.src_device, ip=p.dst_ip)
        results.append(ProbeResult.from_output(p, 1 if bad else 0, text))
    return PingMatrix.from_plan(plan, results)


def test_blocks_keep_the_heatmap_within_24_columns() -> None:
    assert block_size(1024) == 48 and -(-1024 // 48) <= 24
    assert block_size(40) == 8 and block_size(3) == 8
    hosts = [f"node{i:04d}" for i in range(1, 1025)]
    groups = group_servers(hosts)
    assert len(groups) == 22 and [g.label for g in groups[:2]] == ["B1", "B2"]
    assert groups[0].title == "B1 node[0001-0048]" and groups[-1].hosts == hosts[21 * 48 :]
    assert sum(len(g.hosts) for g in groups) == 1024


def test_switches_group_when_discovery_names_one_for_every_server() -> None:
    hosts = [host(i) for i in range(6)]
    switch = {h: f"leaf-{i // 3}" for i, h in enumerate(hosts)}
    groups = group_servers(hosts, switch_of=switch)
    assert [(g.label, len(g.hosts)) for g in groups] == [("leaf-0", 3), ("leaf-1", 3)]
    assert [g.label for g in group_servers(hosts, switch_of=dict(list(switch.items())[:5]), size=4)] == ["B1", "B2"]


def test_more_than_64_switches_fall_back_to_blocks() -> None:
    """N switch names are N x N group cells: a server-printed name per server must not make
    a 1,024 x 1,024 grid of groups."""
    from console.core.pingview import MAX_SWITCHES

    hosts = [f"node{i:04d}" for i in range(1, 131)]
    two_each = {h: f"sw{i // 2}" for i, h in enumerate(hosts)}  # 65 switches
    groups = group_servers(hosts, switch_of=two_each)
    assert MAX_SWITCHES == 64 and [g.label for g in groups[:2]] == ["B1", "B2"] and len(groups) <= 24
    at_limit = {h: f"sw{i // 2}" for i, h in enumerate(hosts[:128])}  # 64 switches: still by switch
    assert len(group_servers(hosts[:128], switch_of=at_limit)) == 64


def test_group_cell_drills_down_to_the_server_pair_then_the_cards() -> None:
    m = _swept(20, lossy=(17, 3, 2))  # host 17 (block B3) -> host 3 (block B1), card 2
    groups = group_servers(m.all_hosts(), size=8)
    view = group_view(m, groups)
    assert view.row_labels[0] == f"B1 {host(0).rsplit('.', 1)[0]}.[11-18]" and view.col_labels == ["B1", "B2", "B3"]
    texts = [[c.text for c in row] for row in view.cells]
    # B1 <-> B3: 8 x 4 server pairs, 4 rails, both directions = 256 probes, one lossy
    assert texts[0][2] == texts[2][0] == "33% 1/256"
    assert texts[0][0] == texts[1][1] == texts[0][1] == "0%"
    assert view.cells[2][0].tested == 256 and view.cells[0][0].tested == 8 * 7 * 4
    pairs = block_view(m, groups[2], groups[0])
    assert pairs.row_labels == groups[2].hosts and pairs.col_labels == groups[0].hosts
    bad = [(r, c) for r, row in enumerate(pairs.cells) for c, cell in enumerate(row) if cell.status == "loss"]
    assert bad == [(1, 3)]  # host 17 is the second of B3, host 3 the fourth of B1
    assert pairs.title.startswith("B3 ") and "↔ B1 " in pairs.title
    cards = card_view(m, host(17), host(3))
    assert [[c.status for c in row][2] for row in cards.cells][2] == "loss"


def test_server_view_rows_and_cols_equal_the_full_view_cells() -> None:
    m = _swept(6, lossy=(0, 5, 1))
    full = server_view(m)
    part = server_view(m, rows=[host(0), host(1)], cols=[host(4), host(5)])
    assert [[c.text for c in row] for row in part.cells] == [[c.text for c in full.cells[r][4:6]] for r in (0, 1)]


def test_cli_prints_blocks_above_24_servers_then_drills_down(capsys) -> None:
    from console.cli.ping import print_matrix

    m = _swept(30, lossy=(27, 2, 1))
    print_matrix(m)
    out = capsys.readouterr().out
    assert "rail: worst loss between groups of servers (4 groups of 6-8 servers), both directions" in out
    # B1 (8 servers) x B4 (6): 48 server pairs x 4 rails x 2 directions, one lossy
    assert out.count("33% 1/384") == 2
    assert "B1 127.0.0.[11-18] ↔ B4 127.0.0.[35-40]: worst loss between two servers" in out
    assert out.count("33% 1/8") == 1  # the server pair inside that block pair
    assert "127.0.0.13 ↔ 127.0.0.38: loss per device, both directions" in out
    assert "loss 33.33% 127.0.0.38:1 -> 127.0.0.13:1 (10.20.2.2)" in out


def test_cli_groups_by_switch_when_every_server_has_one(capsys) -> None:
    """``switch_of`` from discovery's ``-lldp -g``: the groups are the switches, and the
    drill-down goes to the server pairs of the lossy switch pair, then its cards."""
    from console.cli.ping import print_matrix

    m = _swept(30, lossy=(27, 2, 1))
    hosts = m.all_hosts()
    switch_of = {h: ("leafA" if n < 20 else "leafB") for n, h in enumerate(hosts)}
    print_matrix(m, switch_of=switch_of)
    out = capsys.readouterr().out
    assert "rail: worst loss between groups of servers (2 groups of 10-20 servers), both directions" in out
    assert "leafA 127.0.0.[11-30] ↔ leafB 127.0.0.[31-40]: worst loss between two servers" in out
    assert "127.0.0.13 ↔ 127.0.0.38: loss per device, both directions" in out
    # one server without a switch: blocks, as before
    del switch_of[hosts[5]]
    print_matrix(m, switch_of=switch_of)
    assert "(4 groups of 6-8 servers)" in capsys.readouterr().out

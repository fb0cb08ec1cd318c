"""Planner (inventory -> table), merge, renumber and validate_against."""

from __future__ import annotations

import json

import pytest

from console.core.errors import InputError
from console.core.inventory import Device, Inventory, Server
from console.core.ranktable import build, dumps, loads, merge, renumber, validate, validate_against


def _server(n: int, devices=(0, 1, 2, 3), **kw) -> Server:
    devs = [
        Device(device_id=d, device_ip=f"192.168.{n}.{d + 1}", health="OK", super_device_id=100 * n + d) for d in devices
    ]
    fields = {"host": f"node{n}", "server_id": f"10.0.0.{n}", "reachable": True, "devices": devs} | kw
    return Server(**fields)


def _inventory(*servers: Server) -> Inventory:
    return Inventory(servers=list(servers))


def _flat(table):
    return [(s.server_id, d.device_id, d.rank_id, d.device_ip) for s in table.server_list for d in s.device]


def test_build_orders_servers_then_devices():
    inv = _inventory(_server(2, devices=(3, 1, 0, 2)), _server(1))
    table = build(inv)
    assert table.version == "1.0" and table.status == "completed" and table.server_count == 2
    assert [s.server_id for s in table.server_list] == ["10.0.0.2", "10.0.0.1"]
    assert [d.device_id for d in table.server_list[0].device] == [0, 1, 2, 3]
    assert [d.rank_id for s in table.server_list for d in s.device] == list(range(8))
    assert table.server_list[0].device[3].device_ip == "192.168.2.4"
    assert table.super_pod_list is None and table.server_list[0].device[0].super_device_id is None
    assert table.server_list[0].container_ip == "10.0.0.2"
    assert validate(table) == []
    assert loads(dumps(table)) == table


def test_build_in_given_order_by_host_or_server_id():
    inv = _inventory(_server(1), _server(2), _server(3))
    table = build(inv, order=["10.0.0.3", "node1"])
    assert [s.server_id for s in table.server_list] == ["10.0.0.3", "10.0.0.1"]
    assert table.server_count == 2 and table.world_size == 8


def test_build_refuses_unreachable_servers_naming_them():
    inv = _inventory(
        _server(1),
        _server(2, reachable=False, error="Connection refused"),
        _server(3, reachable=False, error="timeout"),
    )
    with pytest.raises(InputError) as info:
        build(inv)
    text = str(info.value)
    assert "node2" in text and "node3" in text and "Connection refused" in text and "node1" not in text
    assert build(inv, order=["node1"]).world_size == 4


@pytest.mark.parametrize(("order", "word"), [(["node9"], "node9"), (["node1", "node1"], "twice"), ([], "no servers")])
def test_build_refuses_bad_orders(order, word):
    with pytest.raises(InputError) as info:
        build(_inventory(_server(1)), order=order)
    assert word in str(info.value)


def test_build_refuses_server_without_devices_and_unknown_version():
    with pytest.raises(InputError, match="node1"):
        build(_inventory(_server(1, devices=())))
    with pytest.raises(InputError, match=r"2\.0"):
        build(_inventory(_server(1)), version="2.0")


def test_build_v12_groups_super_pods():
    inv = _inventory(_server(1, super_pod_id="7"), _server(2), _server(3, super_pod_id="7"))
    table = build(inv, version="1.2")
    assert table.version == "1.2"
    assert table.server_list[1].device[2].super_device_id == 202
    pods = {p.super_pod_id: [s.server_id for s in p.server_list] for p in table.super_pod_list}
    assert pods == {"7": ["10.0.0.1", "10.0.0.3"], "0": ["10.0.0.2"]}
    assert [p.super_pod_id for p in table.super_pod_list] == ["7", "0"]
    assert validate(table) == []


def test_build_v12_refuses_missing_super_device_id():
    server = _server(1)
    server.devices[2].super_device_id = None
    with pytest.raises(InputError) as info:
        build(_inventory(server), version="1.2")
    assert "node1" in str(info.value) and "2" in str(info.value)


def _one(server_id: str, ips: list[str], first_rank: int = 0, **extra) -> dict:
    return {
        "version": "1.0",
        "server_count": "1",
        "status": "completed",
        "server_list": [
            {
                "server_id": server_id,
                "host_nic_ip": "reserve",
                "device": [
                    {"device_id": str(i), "device_ip": ip, "rank_id": str(first_rank + i)} for i, ip in enumerate(ips)
                ],
            }
        ],
        **extra,
    }


def test_merge_like_merge_hccl(data_dir):
    a = loads(json.dumps(_one("10.0.0.1", ["192.1.27.6", "192.2.27.6"])))
    b = loads(json.dumps(_one("10.0.0.2", ["192.1.27.8", "192.2.27.8"])))
    merged = merge([a, b])
    expected = loads((data_dir / "ranktable_merge_hccl_int_rank.json").read_text())
    assert merged == expected
    assert [s.server_id for s in merge([b, a]).server_list] == ["10.0.0.2", "10.0.0.1"]
    assert [d.rank_id for s in merge([b, a]).server_list for d in s.device] == [0, 1, 2, 3]


def test_merge_sums_counts_and_keeps_fields(data_dir):
    seed = loads((data_dir / "ranktable_seed_2x4.json").read_text())
    one = loads(json.dumps(_one("10.0.0.9", ["10.10.200.1"], first_rank=5, note="x")))
    merged = merge([one, seed])
    assert merged.server_count == 3 and merged.world_size == 9
    assert [d.rank_id for s in merged.server_list for d in s.device] == list(range(9))
    assert merged.server_list[0].host_nic_ip == "reserve"
    assert merged.model_extra == {"note": "x"}
    assert seed.server_list[0].device[0].rank_id == 0 and one.server_list[0].device[0].rank_id == 5  # inputs intact


def test_merge_refuses_duplicates_and_mixed_versions(data_dir):
    seed = loads((data_dir / "ranktable_seed_2x4.json").read_text())
    with pytest.raises(InputError) as info:
        merge([seed, seed], names=["a.json", "b.json"])
    assert "90.90.152.89" in str(info.value) and "a.json" in str(info.value) and "b.json" in str(info.value)
    a3 = loads((data_dir / "ranktable_a3_v1.2.json").read_text())
    with pytest.raises(InputError, match=r"1\.2"):
        merge([seed, a3])
    with pytest.raises(InputError):
        merge([])


def test_merge_v12_combines_super_pods(data_dir):
    a3 = loads((data_dir / "ranktable_a3_v1.2.json").read_text())
    other = loads(dumps(a3).replace("10.0.1.1", "10.0.2.1").replace('"11"', '"12"').replace("192.23.", "192.24."))
    merged = merge([a3, other])
    assert [(p.super_pod_id, len(p.server_list)) for p in merged.super_pod_list] == [("11", 2), ("12", 2)]
    assert merged.server_count == 4
    assert validate(merged) == [p for p in validate(merged) if p.code == "container_ip_missing"]


def test_renumber_is_sequential_by_server_then_device(data_dir):
    table = loads((data_dir / "ranktable_bad_interleaved.json").read_text())
    fixed = renumber(table)
    assert [d.rank_id for s in fixed.server_list for d in s.device] == [0, 1, 2, 3]
    assert [d.rank_id for s in table.server_list for d in s.device] == [0, 2, 1, 3]  # input intact
    assert not [p for p in validate(fixed) if p.severity == "error"]


# ---- validate_against -------------------------------------------------------------------


def _checked(table, inv):
    return [(p.code, p.where.path, p.severity) for p in validate_against(table, inv)]


def test_against_matching_inventory_is_clean():
    inv = _inventory(_server(1), _server(2))
    assert validate_against(build(inv), inv) == []
    assert validate_against(build(inv, version="1.2"), inv) == []


def test_against_finds_servers_missing_or_unreached():
    inv = _inventory(_server(1), _server(2))
    table = build(inv)
    inv.servers[1] = _server(2, reachable=False, error="Connection refused", devices=())
    assert _checked(table, inv) == [("server_unreached", "server_list[1].server_id", "error")]
    assert "Connection refused" in validate_against(table, inv)[0].message
    assert _checked(table, _inventory(_server(1))) == [("server_unknown", "server_list[1].server_id", "error")]


def test_against_finds_device_problems():
    inv = _inventory(_server(1), _server(2))
    table = build(inv)
    inv.servers[0].devices[1].device_ip = "192.168.1.99"
    inv.servers[0].devices[2].health = "Alarm"
    inv.servers[1].devices[3].busy_pids = [4242]
    inv.servers[1].devices.pop(0)
    assert _checked(table, inv) == [
        ("device_ip_mismatch", "server_list[0].device[1].device_ip", "error"),
        ("device_unhealthy", "server_list[0].device[2].device_id", "warning"),
        ("device_unknown", "server_list[1].device[0].device_id", "error"),
        ("device_busy", "server_list[1].device[3].device_id", "warning"),
    ]
    msg = validate_against(table, inv)[0].message
    assert "IP address(192.168.1.2) in the ranktable is inconsistent with the IP address(192.168.1.99)" in msg
    assert "EI0014" in msg


def test_against_finds_super_device_and_pod_mismatch():
    inv = _inventory(_server(1, super_pod_id="3"))
    table = build(inv, version="1.2")
    inv.servers[0].devices[0].super_device_id = 5
    inv.servers[0].super_pod_id = "4"
    assert _checked(table, inv) == [
        ("super_device_id_mismatch", "server_list[0].device[0].super_device_id", "error"),
        ("super_pod_mismatch", "super_pod_list[0].server_list[0].server_id", "warning"),
    ]

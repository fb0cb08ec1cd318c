"""validate(): one test per rule, each breaking exactly that rule on an otherwise clean table."""

from __future__ import annotations

import copy
import json

import pytest

from console.core.diagnostic import Diagnostic
from console.core.ranktable import loads, validate
from console.core.ranktable.problems import describe


def _clean(servers: int = 2, devices: int = 4, version: str = "1.0") -> dict:
    doc: dict = {"status": "completed", "version": version, "server_count": str(servers), "server_list": []}
    for s in range(servers):
        devs = []
        for d in range(devices):
            dev = {"device_id": str(d), "device_ip": f"192.168.{s}.{d + 1}", "rank_id": str(s * devices + d)}
            if version == "1.2":
                dev["super_device_id"] = str(1000 + s * devices + d)
            devs.append(dev)
        doc["server_list"].append({"server_id": f"10.0.0.{s + 1}", "container_ip": f"10.0.0.{s + 1}", "device": devs})
    if version == "1.2":
        doc["super_pod_list"] = [
            {"super_pod_id": "0", "server_list": [{"server_id": s["server_id"]} for s in doc["server_list"]]}
        ]
    return doc


def _problems(doc) -> list[Diagnostic]:
    return validate(loads(json.dumps(doc), source="t.json"))


def _has(problems, rule, path, severity="error") -> Diagnostic:
    found = [p for p in problems if p.code == rule and p.where.path == path]
    assert found, f"no {rule} at {path} in:\n" + "\n".join(str(p) for p in problems)
    assert found[0].severity == severity
    return found[0]


@pytest.mark.parametrize(
    ("servers", "devices", "version"), [(2, 4, "1.0"), (1, 8, "1.0"), (3, 16, "1.2"), (1, 2, "1.2")]
)
def test_clean_tables_have_no_problems(servers, devices, version):
    assert _problems(_clean(servers, devices, version)) == []


def test_samples(data_dir):
    def check(name):
        return validate(loads((data_dir / name).read_text(), source=name))

    assert [p.code for p in check("ranktable_seed_2x4.json")] == ["container_ip_missing"]
    assert [p.code for p in check("ranktable_hccl_tools_1server.json")] == []
    assert [p.code for p in check("ranktable_a3_v1.2.json")] == ["container_ip_missing"]
    assert {p.code for p in check("ranktable_merge_hccl_int_rank.json")} == {"container_ip_missing", "json_number"}
    assert all(p.severity == "warning" for p in check("ranktable_merge_hccl_int_rank.json"))


def test_interleaved_sample_names_the_fields(data_dir):
    problems = validate(loads((data_dir / "ranktable_bad_interleaved.json").read_text()))
    errors = [p for p in problems if p.severity == "error"]
    assert [p.where.path for p in errors] == ["server_list[0].device[1].rank_id", "server_list[1].device[1].rank_id"]
    assert all(p.code == "rank_id_interleaved" for p in errors)
    assert "server_list[1].device[0].rank_id" in errors[0].message  # names the rank in the way


def test_every_problem_is_returned_and_sorted():
    doc = _clean(2, 12)
    doc["status"] = "initializing"
    doc["server_list"][1]["device"][10]["device_ip"] = "not-an-ip"
    doc["server_list"][1]["device"][2]["device_ip"] = "bad"
    doc["server_list"][0]["device"][3]["device_id"] = "2"
    problems = _problems(doc)
    assert [p.where.path for p in problems] == [
        "server_list[0].device[3].device_id",
        "server_list[1].device[2].device_ip",
        "server_list[1].device[10].device_ip",
        "status",
    ]
    assert describe(problems[0]).startswith("server_list[0].device[3].device_id: error: ")


RULES = [
    # (rule, path, severity, how to break a clean 2x4 table)
    ("status", "status", "error", lambda d: d.update(status="initializing")),
    ("status", "status", "error", lambda d: d.pop("status")),
    ("version", "version", "error", lambda d: d.update(version="1.1")),
    ("version", "version", "error", lambda d: d.pop("version")),
    ("server_count", "server_count", "error", lambda d: d.update(server_count="3")),
    ("server_count", "server_count", "error", lambda d: d.pop("server_count")),
    ("server_count_number", "server_count", "warning", lambda d: d.update(server_count=2)),
    ("server_list_empty", "server_list", "error", lambda d: d.update(server_list=[], server_count="0")),
    (
        "server_id_duplicate",
        "server_list[1].server_id",
        "error",
        lambda d: d["server_list"][1].update(server_id="10.0.0.1"),
    ),
    (
        "server_id_length",
        "server_list[0].server_id",
        "error",
        lambda d: d["server_list"][0].update(server_id="n" * 30 + "." + "n" * 34),
    ),
    (
        "server_id_invalid",
        "server_list[0].server_id",
        "error",
        lambda d: d["server_list"][0].update(server_id="[x:1 '-oProxyCommand=touch /tmp/p' z]"),
    ),
    (
        "server_id_invalid",
        "server_list[0].server_id",
        "error",
        lambda d: d["server_list"][0].update(server_id="node/0"),
    ),
    ("server_id_empty", "server_list[0].server_id", "error", lambda d: d["server_list"][0].update(server_id="")),
    (
        "server_id_not_ip",
        "server_list[0].server_id",
        "warning",
        lambda d: d["server_list"][0].update(server_id="node-0"),
    ),
    (
        "rank_id_duplicate",
        "server_list[1].device[0].rank_id",
        "error",
        lambda d: d["server_list"][1]["device"][0].update(rank_id="3"),
    ),
    (
        "rank_id_range",
        "server_list[1].device[3].rank_id",
        "error",
        lambda d: d["server_list"][1]["device"][3].update(rank_id="8"),
    ),
    (
        "rank_id_range",
        "server_list[1].device[3].rank_id",
        "error",
        lambda d: d["server_list"][1]["device"][3].update(rank_id="-1"),
    ),
    ("rank_id_gap", "server_list", "error", lambda d: d["server_list"][1]["device"][3].update(rank_id="8")),
    ("rank_order", "server_list[1]", "warning", lambda d: _swap_rank_blocks(d)),
    ("device_list_empty", "server_list[1].device", "error", lambda d: _empty_server(d)),
    ("device_count", "server_list[1].device", "warning", lambda d: _drop_last_device(d)),
    (
        "device_id_duplicate",
        "server_list[0].device[2].device_id",
        "error",
        lambda d: d["server_list"][0]["device"][2].update(device_id="1"),
    ),
    (
        "device_id_range",
        "server_list[0].device[2].device_id",
        "error",
        lambda d: d["server_list"][0]["device"][2].update(device_id="64"),
    ),
    (
        "device_id_range",
        "server_list[0].device[2].device_id",
        "error",
        lambda d: d["server_list"][0]["device"][2].update(device_id="-1"),
    ),
    (
        "device_id_large",
        "server_list[0].device[2].device_id",
        "warning",
        lambda d: d["server_list"][0]["device"][2].update(device_id="16"),
    ),
    (
        "device_ip_missing",
        "server_list[0].device[2].device_ip",
        "error",
        lambda d: d["server_list"][0]["device"][2].pop("device_ip"),
    ),
    (
        "device_ip_missing",
        "server_list[1].device",
        "error",
        lambda d: [dev.pop("device_ip") for dev in d["server_list"][1]["device"]],
    ),
    (
        "device_ip_invalid",
        "server_list[0].device[2].device_ip",
        "error",
        lambda d: d["server_list"][0]["device"][2].update(device_ip="192.168.0.300"),
    ),
    (
        "device_ip_duplicate",
        "server_list[1].device[0].device_ip",
        "error",
        lambda d: d["server_list"][1]["device"][0].update(device_ip="192.168.0.1"),
    ),
    (
        "device_ip_family",
        "server_list[1].device[0].device_ip",
        "error",
        lambda d: d["server_list"][1]["device"][0].update(device_ip="fd00::1"),
    ),
    (
        "ip_invalid",
        "server_list[0].container_ip",
        "warning",
        lambda d: d["server_list"][0].update(container_ip="pod-a"),
    ),
    ("container_ip_missing", "server_list", "warning", lambda d: [s.pop("container_ip") for s in d["server_list"]]),
    (
        "container_ip_missing",
        "server_list[1].container_ip",
        "warning",
        lambda d: d["server_list"][1].pop("container_ip"),
    ),
    (
        "port_range",
        "server_list[0].device[1].host_port",
        "error",
        lambda d: d["server_list"][0]["device"][1].update(host_port="65536"),
    ),
    (
        "port_range",
        "server_list[0].device[1].device_port",
        "error",
        lambda d: d["server_list"][0]["device"][1].update(device_port="0"),
    ),
    (
        "port_privileged",
        "server_list[0].device[1].device_port",
        "warning",
        lambda d: d["server_list"][0]["device"][1].update(device_port="1023"),
    ),
    ("host_port_duplicate", "server_list[0].device[1].host_port", "error", lambda d: _same_host_port(d)),
    (
        "json_number",
        "server_list[0].device[0].rank_id",
        "warning",
        lambda d: d["server_list"][0]["device"][0].update(rank_id=0),
    ),
    ("super_pod_ignored", "version", "warning", lambda d: d["server_list"][0]["device"][0].update(super_device_id="5")),
    ("rank_id_limit", "server_list[0].device[512].rank_id", "warning", lambda d: _big(d)),
    ("server_count_range", "server_count", "warning", lambda d: _many_servers(d)),
]


def _swap_rank_blocks(d):
    for s, base in ((0, 4), (1, 0)):
        for i, dev in enumerate(d["server_list"][s]["device"]):
            dev["rank_id"] = str(base + i)


def _empty_server(d):
    d["server_list"][1]["device"] = []


def _drop_last_device(d):
    d["server_list"][1]["device"].pop()


def _same_host_port(d):
    for i, dev in enumerate(d["server_list"][0]["device"]):
        dev["host_port"] = str(16666 + i)
    d["server_list"][0]["device"][1]["host_port"] = "16666"


def _big(d):
    d.update(_clean(1, 520))
    for i, dev in enumerate(d["server_list"][0]["device"]):
        dev["device_id"], dev["device_ip"] = str(i % 8), f"10.{i // 200}.{i % 200}.1"


def _many_servers(d):
    d.update(_clean(61, 1))


@pytest.mark.parametrize(("rule", "path", "severity", "breaker"), RULES, ids=lambda v: v if isinstance(v, str) else "")
def test_each_rule_fires(rule, path, severity, breaker):
    doc = _clean()
    breaker(doc)
    problem = _has(_problems(doc), rule, path, severity)
    assert problem.message


V12_RULES = [
    (
        "super_device_id_missing",
        "server_list[0].device[1].super_device_id",
        lambda d: d["server_list"][0]["device"][1].pop("super_device_id"),
    ),
    (
        "super_device_id_missing",
        "server_list[1].device",
        lambda d: [dev.pop("super_device_id") for dev in d["server_list"][1]["device"]],
    ),
    (
        "super_device_id_duplicate",
        "server_list[1].device[0].super_device_id",
        lambda d: d["server_list"][1]["device"][0].update(super_device_id="1000"),
    ),
    ("super_pod_list_missing", "super_pod_list", lambda d: d.pop("super_pod_list")),
    ("super_pod_server_missing", "server_list[1].server_id", lambda d: d["super_pod_list"][0]["server_list"].pop()),
    (
        "super_pod_server_duplicate",
        "super_pod_list[1].server_list[0].server_id",
        lambda d: d["super_pod_list"].append({"super_pod_id": "1", "server_list": [{"server_id": "10.0.0.2"}]}),
    ),
    (
        "super_pod_server_unknown",
        "super_pod_list[0].server_list[2].server_id",
        lambda d: d["super_pod_list"][0]["server_list"].append({"server_id": "10.0.0.9"}),
    ),
    ("super_pod_id_duplicate", "super_pod_list[1].super_pod_id", lambda d: _split_pods(d, "0")),
]


def _split_pods(d, second_id):
    d["super_pod_list"] = [
        {"super_pod_id": "0", "server_list": [{"server_id": "10.0.0.1"}]},
        {"super_pod_id": second_id, "server_list": [{"server_id": "10.0.0.2"}]},
    ]


@pytest.mark.parametrize(("rule", "path", "breaker"), V12_RULES, ids=lambda v: v if isinstance(v, str) else "")
def test_each_v12_rule_fires(rule, path, breaker):
    doc = _clean(version="1.2")
    breaker(doc)
    problem = _has(_problems(doc), rule, path, "error")
    assert problem.message


def test_v12_two_pods_are_fine():
    doc = _clean(version="1.2")
    _split_pods(doc, "1")
    assert _problems(doc) == []
    doc["server_list"][1]["device"][0]["super_device_id"] = "1000"  # same SDID in another pod is allowed
    assert _problems(doc) == []


def test_messages_carry_the_tool_wording():
    doc = _clean()
    doc["server_list"][1]["device"][0]["device_ip"] = "fd00::1"
    msg = _has(_problems(doc), "device_ip_family", "server_list[1].device[0].device_ip").message
    assert "EI0001" in msg and "family[10]" in msg and "others[2]" in msg
    doc = _clean()
    doc["status"] = "initializing"
    assert "not usable yet" in _has(_problems(doc), "status", "status").message
    doc = _clean(version="1.2")
    doc["server_list"][0]["device"][1].pop("super_device_id")
    assert (
        "EI0004" in _has(_problems(doc), "super_device_id_missing", "server_list[0].device[1].super_device_id").message
    )


def test_one_server_needs_no_device_ip():
    doc = _clean(1, 4)
    for dev in doc["server_list"][0]["device"]:
        dev.pop("device_ip")
    assert _problems(doc) == []


def test_validate_does_not_change_the_table():
    table = loads(json.dumps(_clean()))
    before = copy.deepcopy(table)
    validate(table)
    assert table == before

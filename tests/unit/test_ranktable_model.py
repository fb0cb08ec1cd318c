"""RankTableFile model: loading every real sample, refusing other shapes, canonical text out."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.errors import InputError
from console.core.ranktable import (
    RankDevice,
    RankServer,
    RankTable,
    RankTableInvalid,
    SuperPod,
    dumps,
    json_schema,
    loads,
)

SAMPLES = [
    "ranktable_seed_2x4.json",
    "ranktable_hccl_doc_ports.json",
    "ranktable_hccl_tools_1server.json",
    "ranktable_merge_hccl_int_rank.json",
    "ranktable_a3_v1.2.json",
    "ranktable_bad_interleaved.json",
]


def _load(data_dir, name: str) -> RankTable:
    return loads((data_dir / name).read_text(), source=name)


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_loads_with_int_numbers(data_dir, name):
    table = _load(data_dir, name)
    assert table.server_list
    for server in table.server_list:
        for dev in server.device:
            assert isinstance(dev.rank_id, int) and isinstance(dev.device_id, int)
    assert table.world_size == sum(len(s.device) for s in table.server_list)


def test_seed_contents(data_dir):
    table = _load(data_dir, "ranktable_seed_2x4.json")
    assert table.version == "1.0" and table.status == "completed" and table.server_count == 2
    assert [s.server_id for s in table.server_list] == ["90.90.152.89", "90.90.152.91"]
    assert [d.rank_id for s in table.server_list for d in s.device] == list(range(8))
    assert table.server_list[1].device[3].device_ip == "10.10.100.25"


def test_optional_fields_load(data_dir):
    ports = _load(data_dir, "ranktable_hccl_doc_ports.json")
    dev = ports.server_list[0].device[1]
    assert (dev.device_port, dev.host_port) == (16667, 16667)
    assert ports.server_list[0].host_ip == "172.16.0.110"
    tools = _load(data_dir, "ranktable_hccl_tools_1server.json")
    assert tools.server_list[0].host_nic_ip == "reserve"
    a3 = _load(data_dir, "ranktable_a3_v1.2.json")
    assert a3.server_list[1].device[0].super_device_id == 98435087
    assert a3.super_pod_list and a3.super_pod_list[0].super_pod_id == "11"
    assert [s.server_id for s in a3.super_pod_list[0].server_list] == ["10.0.1.11", "10.0.1.12"]


def test_json_integers_load_and_are_remembered(data_dir):
    table = _load(data_dir, "ranktable_merge_hccl_int_rank.json")
    assert [d.rank_id for s in table.server_list for d in s.device] == [0, 1, 2, 3]
    assert "server_list[0].device[0].rank_id" in table.json_numbers
    assert "server_count" not in table.json_numbers


def test_v2_is_refused_naming_what_it_is(data_dir):
    with pytest.raises(RankTableInvalid) as info:
        _load(data_dir, "ranktable_v2.0_unsupported.json")
    text = str(info.value)
    assert "2.0" in text and "rank_list" in text
    assert info.value.path == "ranktable_v2.0_unsupported.json"


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"status": "completed", "group_count": "1", "group_list": []}, ["hccl-controller", "group_list"]),
        ({"version": "1.0", "server_group_list": []}, ["server_group_list", "global"]),
        ({"version": "1.2", "prefill_device_list": [], "decode_device_list": []}, ["vllm", "prefill_device_list"]),
        ({"status": "completed", "version": "1.0"}, ["server_list"]),
        ([1, 2], ["array"]),
        ("text", ["string"]),
    ],
)
def test_other_shapes_are_refused(doc, words):
    with pytest.raises(RankTableInvalid) as info:
        loads(json.dumps(doc), source="x.json")
    text = str(info.value)
    for word in words:
        assert word in text, text


def test_json_error_has_line_and_column():
    text = '{\n  "status": "completed",\n  "version": "1.0"\n  "server_list": []\n}\n'
    with pytest.raises(InputError) as info:
        loads(text, source="t.json")
    assert "line 4, column 3" in str(info.value)
    assert info.value.path == "t.json"
    assert (info.value.line, info.value.column) == (4, 3)  # fields: nobody parses the title


def test_comments_get_a_hint():
    with pytest.raises(InputError) as info:
        loads('{"status": "completed", // usable\n "server_list": []}', source="c.json")
    assert "comment" in (info.value.hint or "")


def _one_server(**device) -> dict:
    dev = {"device_id": "0", "device_ip": "192.168.1.1", "rank_id": "0"} | device
    return {
        "status": "completed",
        "version": "1.0",
        "server_count": "1",
        "server_list": [{"server_id": "10.0.0.1", "device": [dev]}],
    }


@pytest.mark.parametrize("bad", ["x", "", "1.5", " 1", True, 1.0, None, [0]])
def test_bad_number_names_the_json_path(bad):
    with pytest.raises(RankTableInvalid) as info:
        loads(json.dumps(_one_server(rank_id=bad)))
    assert "server_list[0].device[0].rank_id" in str(info.value)
    assert [(p.where.path, p.code) for p in info.value.problems] == [
        ("server_list[0].device[0].rank_id", "field_invalid")
    ]
    assert info.value.exit_code == 1


def test_missing_required_fields_are_all_named():
    doc = _one_server()
    del doc["server_list"][0]["device"][0]["rank_id"]
    del doc["server_list"][0]["server_id"]
    with pytest.raises(RankTableInvalid) as info:
        loads(json.dumps(doc))
    text = str(info.value)
    assert "server_list[0].device[0].rank_id" in text and "server_list[0].server_id" in text
    assert {(p.where.path, p.code) for p in info.value.problems} == {
        ("server_list[0].device[0].rank_id", "field_missing"),
        ("server_list[0].server_id", "field_missing"),
    }


def test_string_field_given_a_number_is_named():
    with pytest.raises(RankTableInvalid) as info:
        loads(json.dumps(_one_server(device_ip=5)))
    assert "server_list[0].device[0].device_ip" in str(info.value)


def test_dumps_is_canonical(data_dir):
    table = _load(data_dir, "ranktable_merge_hccl_int_rank.json")
    text = dumps(table)
    assert text.endswith("}\n") and text.startswith('{\n  "status": "completed",\n  "version": "1.0"')
    raw = json.loads(text)
    assert all(isinstance(d["rank_id"], str) for s in raw["server_list"] for d in s["device"])
    assert raw["server_list"][1]["device"][1]["rank_id"] == "3"
    assert list(raw) == ["status", "version", "server_count", "server_list"]
    assert list(raw["server_list"][0]) == ["server_id", "host_nic_ip", "device"]
    assert list(raw["server_list"][0]["device"][0]) == ["device_id", "device_ip", "rank_id"]


def test_unknown_fields_survive_in_order():
    doc = _one_server(zz_dev="d", aa_dev={"nested": [1, "2"]})
    doc["_comment"] = "made by hand"
    doc["server_list"][0]["hardware_type"] = "800I-A2-32G"
    doc["server_list"][0]["rack"] = 7
    text = dumps(loads(json.dumps(doc)))
    raw = json.loads(text)
    assert raw["_comment"] == "made by hand"
    assert raw["server_list"][0]["rack"] == 7  # unknown fields are kept exactly, not stringified
    assert raw["server_list"][0]["hardware_type"] == "800I-A2-32G"
    assert list(raw["server_list"][0]["device"][0])[-2:] == ["zz_dev", "aa_dev"]
    assert raw["server_list"][0]["device"][0]["aa_dev"] == {"nested": [1, "2"]}


def test_equality_ignores_where_numbers_came_from(data_dir):
    table = _load(data_dir, "ranktable_merge_hccl_int_rank.json")
    again = loads(dumps(table))
    assert again == table
    assert again.json_numbers == () and table.json_numbers
    changed = loads(dumps(table))
    changed.server_list[0].device[0].device_ip = "192.1.27.99"
    assert changed != table


def test_models_build_in_python_and_dump():
    table = RankTable(
        status="completed",
        version="1.2",
        server_count=1,
        server_list=[
            RankServer(
                server_id="10.0.0.1",
                device=[RankDevice(device_id=0, device_ip="192.168.0.1", rank_id=0, super_device_id=7)],
            )
        ],
        super_pod_list=[SuperPod(super_pod_id="0", server_list=[{"server_id": "10.0.0.1"}])],
    )
    raw = json.loads(dumps(table))
    assert raw["server_count"] == "1"
    assert raw["server_list"][0]["device"][0] == {
        "device_id": "0",
        "device_ip": "192.168.0.1",
        "super_device_id": "7",
        "rank_id": "0",
    }
    assert raw["super_pod_list"] == [{"super_pod_id": "0", "server_list": [{"server_id": "10.0.0.1"}]}]


def test_schema_says_numbers_are_strings():
    schema = json_schema()
    text = json.dumps(schema)
    dev = schema["$defs"]["RankDevice"]["properties"]
    assert dev["rank_id"]["type"] == "string" and dev["device_id"]["type"] == "string"
    assert dev["super_device_id"]["type"] == "string"
    assert schema["properties"]["server_count"]["type"] == "string"
    assert set(schema["required"]) >= {"server_list"}
    assert "null" not in text


# ---- hypothesis: generated tables survive text round trips -------------------------------

_ints = st.integers(min_value=0, max_value=2**31)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_extra_keys = st.text("abcdefghij_", min_size=1, max_size=6).map(lambda s: "x_" + s)
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), _text)
_json_val = st.recursive(
    _json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(_text, c, max_size=3), max_leaves=6
)
_extras = st.dictionaries(_extra_keys, _json_val, max_size=2)


@st.composite
def _devices(draw):
    fields = {"device_id": draw(_ints), "rank_id": draw(_ints)}
    for name in ("device_port", "host_port", "super_device_id", "backup_device_port"):
        if draw(st.booleans()):
            fields[name] = draw(_ints)
    for name in ("device_ip", "backup_device_ip"):
        if draw(st.booleans()):
            fields[name] = draw(_text)
    return RankDevice(**fields, **draw(_extras))


@st.composite
def _servers(draw):
    fields = {"server_id": draw(_text), "device": draw(st.lists(_devices(), max_size=3))}
    for name in ("host_ip", "container_ip", "host_nic_ip", "hardware_type"):
        if draw(st.booleans()):
            fields[name] = draw(_text)
    return RankServer(**fields, **draw(_extras))


@st.composite
def _tables(draw):
    servers = draw(st.lists(_servers(), max_size=3))
    pods = None
    if draw(st.booleans()):
        pods = [SuperPod(super_pod_id=draw(_text), server_list=[{"server_id": s.server_id} for s in servers])]
    return RankTable(
        status=draw(st.sampled_from([None, "completed", "initializing"])),
        version=draw(st.sampled_from([None, "1.0", "1.2", "9"])),
        server_count=draw(st.one_of(st.none(), _ints)),
        server_list=servers,
        super_pod_list=pods,
        **draw(_extras),
    )


@settings(max_examples=60, deadline=None)
@given(_tables())
def test_generated_tables_round_trip(table):
    text = dumps(table)
    again = loads(text)
    assert again == table
    assert dumps(again) == text
    raw = json.loads(text)
    for server in raw["server_list"]:
        for dev in server["device"]:
            assert isinstance(dev["rank_id"], str) and isinstance(dev["device_id"], str)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_ints, _ints, st.booleans()), min_size=1, max_size=6))
def test_json_numbers_and_strings_load_alike(devs):
    def doc(as_int):
        return {
            "status": "completed",
            "version": "1.0",
            "server_list": [
                {
                    "server_id": "a",
                    "device": [
                        {"device_id": d if as_int and flag else str(d), "rank_id": r if as_int else str(r)}
                        for d, r, flag in devs
                    ],
                }
            ],
        }

    assert loads(json.dumps(doc(True))) == loads(json.dumps(doc(False)))

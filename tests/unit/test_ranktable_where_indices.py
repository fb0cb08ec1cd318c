"""Rank-table problems carry their place as values: ``Where.server_index``, ``device_index``
and ``field`` beside the unchanged ``path`` text, filled by the checks themselves (validate,
validate_against, the JSON-number scan), so the Rank table pane paints cells without parsing
``server_list[1].device[0]`` back into numbers."""

from __future__ import annotations

import json
from pathlib import Path

from console.core.inventory import Device, Inventory, Server
from console.core.ranktable import validate, validate_against
from console.core.ranktable.problems import problem_json
from console.core.ranktable.text import loads

DATA = Path(__file__).parent.parent / "data"


def _places(problems) -> dict[str, tuple]:
    return {p.where.path: (p.where.server_index, p.where.device_index, p.where.field) for p in problems}


def test_validate_fills_the_indices_and_field_of_each_path() -> None:
    table = loads((DATA / "ranktable_bad_interleaved.json").read_text())
    places = _places(validate(table))
    assert places["server_list[0].device[1].rank_id"] == (0, 1, "rank_id")
    assert places["server_list[1].device[1].rank_id"] == (1, 1, "rank_id")
    assert places["server_list"] == (None, None, None)  # a whole-table problem has no indices


def test_server_fields_json_numbers_and_the_inventory_checks_fill_them_too() -> None:
    doc = json.loads((DATA / "ranktable_seed_2x4.json").read_text())
    doc["server_list"][1]["server_id"] = doc["server_list"][0]["server_id"]
    doc["server_list"][0]["device"][2]["rank_id"] = 2  # a JSON number, not "2"
    table = loads(json.dumps(doc))
    places = _places(validate(table))
    assert places["server_list[1].server_id"] == (1, None, "server_id")
    assert places["server_list[0].device[2].rank_id"] == (0, 2, "rank_id")
    first = doc["server_list"][0]
    card = first["device"][3]
    inventory = Inventory(
        servers=[
            Server(
                host=first["server_id"],
                server_id=first["server_id"],
                reachable=True,
                devices=[
                    Device(device_id=int(d["device_id"]), device_ip=d["device_ip"] if d is not card else "10.9.9.9")
                    for d in first["device"]
                ],
            )
        ]
    )
    against = _places(validate_against(table, inventory))
    assert against["server_list[0].device[3].device_ip"] == (0, 3, "device_ip")


def test_validate_json_adds_the_indices_and_keeps_the_path() -> None:
    table = loads((DATA / "ranktable_bad_interleaved.json").read_text())
    docs = [problem_json(p) for p in validate(table)]
    doc = next(d for d in docs if d["path"] == "server_list[1].device[1].rank_id")
    assert doc == {
        "severity": "error",
        "path": "server_list[1].device[1].rank_id",
        "message": doc["message"],
        "rule": "rank_id_interleaved",
        "server_index": 1,
        "device_index": 1,
        "field": "rank_id",
    }


def test_format_problems_carry_the_indices_of_their_location_too() -> None:
    import pytest

    from console.core.ranktable.text import RankTableInvalid

    doc = json.loads((DATA / "ranktable_seed_2x4.json").read_text())
    del doc["server_list"][1]["device"][2]["rank_id"]
    with pytest.raises(RankTableInvalid) as caught:
        loads(json.dumps(doc))
    assert _places(caught.value.problems) == {"server_list[1].device[2].rank_id": (1, 2, "rank_id")}

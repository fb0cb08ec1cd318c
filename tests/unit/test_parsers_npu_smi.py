"""npu-smi info / info -l / info -m parsers on the real samples in tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.parsers import (
    NpuChipMap,
    NpuList,
    NpuSmiInfo,
    Unparsed,
    parse_npu_chip_map,
    parse_npu_list,
    parse_npu_smi_info,
)


def read(data_dir: Path, name: str) -> str:
    return (data_dir / name).read_text()


# ---------------------------------------------------------------- info -l


@pytest.mark.parametrize("name, chips", [("npu_smi_info_l_a2.txt", 1), ("npu_smi_info_l_a3.txt", 2)])
def test_info_l(data_dir: Path, name: str, chips: int) -> None:
    r = parse_npu_list(read(data_dir, name))
    assert isinstance(r, NpuList)
    assert r.total_count == 8
    assert [c.npu_id for c in r.cards] == list(range(8))
    assert {c.chip_count for c in r.cards} == {chips}
    assert r.chips_per_card == chips


def test_info_l_mixed_counts_have_no_common_value() -> None:
    r = parse_npu_list("Total Count : 2\n\nNPU ID : 0\nChip Count : 1\n\nNPU ID : 1\nChip Count : 2\n")
    assert isinstance(r, NpuList) and r.chips_per_card is None


def test_info_l_old_310_variant_keeps_fields() -> None:
    text = (
        "        Card Count                     : 1\n\n        NPU ID                         : 1\n"
        "        Product Name                   : Atlas 300I\n        Serial Number : 0342\n"
        "        Chip Count                     : 4\n"
    )
    r = parse_npu_list(text)
    assert isinstance(r, NpuList) and r.total_count == 1
    assert r.cards[0].chip_count == 4 and r.cards[0].extra["Product Name"] == "Atlas 300I"


# ---------------------------------------------------------------- info -m


def test_info_m_skips_mcu_rows(data_dir: Path) -> None:
    r = parse_npu_chip_map(read(data_dir, "npu_smi_info_m_a2.txt"))
    assert isinstance(r, NpuChipMap)
    assert [(c.npu_id, c.chip_id, c.logic_id) for c in r.chips] == [(n, 0, n) for n in range(8)]
    assert {c.name for c in r.chips} == {"Ascend 910B3"}
    assert all(c.phy_id is None for c in r.chips)


def test_info_m_with_phy_id_column() -> None:
    text = (
        "\tNPU ID  Chip ID  Chip Logic ID  Chip Phy-ID Chip Name\n"
        "\t0       0        0              0           Ascend 910\n"
        "\t0       1        1              1           Ascend 910\n"
        "\t0       2        -              -           Mcu\n"
        "\t1       0        2              2           Ascend 910\n"
    )
    r = parse_npu_chip_map(text)
    assert isinstance(r, NpuChipMap)
    assert [(c.npu_id, c.chip_id, c.logic_id, c.phy_id, c.name) for c in r.chips] == [
        (0, 0, 0, 0, "Ascend 910"),
        (0, 1, 1, 1, "Ascend 910"),
        (1, 0, 2, 2, "Ascend 910"),
    ]


def test_info_m_without_header() -> None:
    assert isinstance(parse_npu_chip_map("0  0  0  Ascend 910B3\n"), Unparsed)


# ---------------------------------------------------------------- info (table)


def test_info_a2_chips(data_dir: Path) -> None:
    r = parse_npu_smi_info(read(data_dir, "npu_smi_info_a2.txt"))
    assert isinstance(r, NpuSmiInfo)
    assert (r.version, r.layout) == ("23.0.rc2", "A2")
    assert [(c.npu_id, c.chip_id) for c in r.chips] == [(n, 0) for n in range(8)]
    assert [c.health for c in r.chips] == ["OK"] * 5 + ["Warning"] + ["OK"] * 2
    c0 = r.chip(0)
    assert c0 is not None
    assert (c0.name, c0.bus_id, c0.power_w, c0.temp_c) == ("910B1", "0000:C1:00.0", 88.4, 46)
    assert (c0.hbm_used_mb, c0.hbm_total_mb, c0.phy_id) == (4175, 65536, None)
    assert r.chip(7).hbm_used_mb == 4182


def test_info_a2_process_table(data_dir: Path) -> None:
    r = parse_npu_smi_info(read(data_dir, "npu_smi_info_a2.txt"))
    assert isinstance(r, NpuSmiInfo) and r.process_table
    assert r.idle_npus == [0]
    assert [(p.npu_id, p.chip_id, p.pid, p.name, p.memory_mb) for p in r.processes] == [
        (1, 0, 2214871, "python3", 60156)
    ]
    assert [p.pid for p in r.processes_on(1)] == [2214871] and r.processes_on(0) == []
    assert len(r.chips) == 8  # the process table did not add chips


def test_info_a3_two_chips_per_card(data_dir: Path) -> None:
    r = parse_npu_smi_info(read(data_dir, "npu_smi_info_a3_2cards.txt"))
    assert isinstance(r, NpuSmiInfo)
    assert (r.version, r.layout, r.process_table) == ("24.1.rc3", "A3", False)
    assert [(c.npu_id, c.chip_id, c.phy_id) for c in r.chips] == [(0, 0, 0), (0, 1, 1), (1, 0, 2), (1, 1, 3)]
    assert [c.power_w for c in r.chips] == [182.0, None, 180.3, None]
    assert [c.bus_id for c in r.chips] == ["0000:9D:00.0", "0000:9F:00.0", "0000:99:00.0", "0000:9B:00.0"]
    assert {c.name for c in r.chips} == {"Ascend910"}
    assert [c.hbm_used_mb for c in r.chips] == [3402, 3200, 3402, 3200]


def test_info_five_digit_usage_without_space() -> None:
    text = (
        "| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|\n"
        "| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |\n"
        "| 3     910B3               | Alarm         | 91.0        49                0    / 0             |\n"
        "| 0                         | 0000:81:00.0  | 37          0    / 0          60156/ 65536         |\n"
    )
    r = parse_npu_smi_info(text)
    assert isinstance(r, NpuSmiInfo)
    c = r.chip(3)
    assert c is not None and (c.health, c.aicore_pct, c.hbm_used_mb, c.hbm_total_mb) == ("Alarm", 37, 60156, 65536)


def test_info_not_a_table() -> None:
    assert isinstance(parse_npu_smi_info("dcmi module initialize failed. ret is -8005\n"), Unparsed)
    assert isinstance(parse_npu_smi_info(""), Unparsed)


def test_spod_info_key_value_lines():
    from console.core.parsers import SpodInfo, parse_spod_info

    text = "        SDID                           : 98369551\n        Super Pod ID                   : 11\n"
    assert parse_spod_info(text) == SpodInfo(sdid=98369551, super_pod_id="11")


def test_spod_info_table_form_and_na():
    from console.core.parsers import SpodInfo, parse_spod_info

    assert parse_spod_info("| Super Pod ID                 : 3          | Pod ID : 1 |") == SpodInfo(
        sdid=None, super_pod_id="3"
    )
    assert parse_spod_info("SDID : NA\nSuper Pod ID : NA\n") == SpodInfo(sdid=None, super_pod_id=None)


def test_spod_info_other_text_is_unparsed():
    from console.core.parsers import Unparsed, parse_spod_info

    assert isinstance(parse_spod_info("The command is not supported on this product.\n"), Unparsed)

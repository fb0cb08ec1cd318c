"""Rank-table files on disk: round trips of every sample, atomic save, .bak, mode 0640."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from console.core.errors import InputError
from console.core.ranktable import RankTableInvalid, dumps
from console.ops import ranktable_files
from console.ops.ranktable_files import load, save

SAMPLES = [
    "ranktable_seed_2x4.json",
    "ranktable_hccl_doc_ports.json",
    "ranktable_hccl_tools_1server.json",
    "ranktable_merge_hccl_int_rank.json",
    "ranktable_a3_v1.2.json",
    "ranktable_bad_interleaved.json",
]
NUMBER_FIELDS = ("device_id", "rank_id", "super_device_id", "device_port", "host_port")


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_round_trips_through_disk(data_dir, tmp_path, name):
    original = load(data_dir / name)
    out = tmp_path / name
    save(original, out)
    again = load(out)
    assert again == original
    raw_in = json.loads((data_dir / name).read_text())
    raw_out = json.loads(out.read_text())
    assert raw_out["server_count"] == str(raw_in["server_count"])
    for s_in, s_out in zip(raw_in["server_list"], raw_out["server_list"], strict=True):
        assert set(s_out) == set(s_in)  # optional and unknown fields (host_nic_ip, host_ip) kept
        for d_in, d_out in zip(s_in["device"], s_out["device"], strict=True):
            assert set(d_out) == set(d_in)
            for key in NUMBER_FIELDS:
                if key in d_in:
                    assert d_out[key] == str(d_in[key])  # ints written as strings
    assert raw_out.get("super_pod_list") == raw_in.get("super_pod_list")


def test_v2_sample_load_is_refused(data_dir):
    with pytest.raises(RankTableInvalid) as info:
        load(data_dir / "ranktable_v2.0_unsupported.json")
    assert "2.0" in str(info.value) and info.value.path.endswith("ranktable_v2.0_unsupported.json")


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(InputError) as info:
        load(tmp_path / "nope.json")
    assert info.value.path == str(tmp_path / "nope.json")
    assert "not found" in str(info.value)


def test_not_json_names_line_and_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"status": "completed",\n "server_list": [,]}\n')
    with pytest.raises(InputError) as info:
        load(bad)
    assert "line 2, column 18" in str(info.value) and info.value.path == str(bad)


def test_not_utf8_is_an_input_error(tmp_path):
    bad = tmp_path / "bin.json"
    bad.write_bytes(b'{"x": "\xff"}')
    with pytest.raises(InputError) as info:
        load(bad)
    assert "UTF-8" in str(info.value)


def test_save_writes_mode_0640_and_returns_sha256(data_dir, tmp_path):
    table = load(data_dir / "ranktable_seed_2x4.json")
    out = tmp_path / "rt.json"
    old = os.umask(0o077)
    try:
        digest = save(table, out)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert digest == hashlib.sha256(out.read_bytes()).hexdigest()
    assert out.read_text() == dumps(table)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rt.json"]  # no temp files, no .bak yet


def test_save_keeps_previous_file_as_bak(data_dir, tmp_path):
    out = tmp_path / "rt.json"
    out.write_text("previous content")
    out.chmod(0o600)
    save(load(data_dir / "ranktable_seed_2x4.json"), out)
    bak = tmp_path / "rt.json.bak"
    assert bak.read_text() == "previous content"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    save(load(data_dir / "ranktable_a3_v1.2.json"), out)
    assert load(bak) == load(data_dir / "ranktable_seed_2x4.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rt.json", "rt.json.bak"]


def test_failed_save_leaves_the_old_file_untouched(data_dir, tmp_path, monkeypatch):
    out = tmp_path / "rt.json"
    out.write_text("previous content")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ranktable_files.os, "fsync", broken_fsync)
    with pytest.raises(InputError) as info:
        save(load(data_dir / "ranktable_seed_2x4.json"), out)
    assert "No space left" in str(info.value) and info.value.path == str(out)
    assert out.read_text() == "previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rt.json"]


def test_save_through_a_symlink_keeps_the_link(data_dir, tmp_path):
    real = tmp_path / "real.json"
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    save(load(data_dir / "ranktable_seed_2x4.json"), link)
    assert link.is_symlink()
    assert load(real) == load(data_dir / "ranktable_seed_2x4.json")


def test_save_into_missing_folder_names_it(data_dir, tmp_path):
    with pytest.raises(InputError) as info:
        save(load(data_dir / "ranktable_seed_2x4.json"), tmp_path / "no" / "rt.json")
    assert str(tmp_path / "no") in str(info.value)


def test_read_returns_the_exact_bytes_and_the_table_parsed_from_them(data_dir, tmp_path):
    raw = (data_dir / "ranktable_seed_2x4.json").read_bytes()
    out = tmp_path / "rt.json"
    out.write_bytes(b"\n  " + raw)  # not the canonical form: the bytes must come back as they are
    data, table = ranktable_files.read(out)
    assert data == b"\n  " + raw and table == load(data_dir / "ranktable_seed_2x4.json")
    out.write_bytes(b'{"x": "\xff"}')
    with pytest.raises(InputError, match="UTF-8") as info:
        ranktable_files.read(out)
    assert info.value.path == str(out)


def test_write_bytes_atomic_sets_the_mode_and_keeps_no_backup_unless_asked(tmp_path):
    out = tmp_path / "rt.json"
    out.write_text("previous content")
    ranktable_files.write_bytes_atomic(out, b"new", mode=0o600)
    assert out.read_bytes() == b"new" and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rt.json"]
    with pytest.raises(InputError) as info:
        ranktable_files.write_bytes_atomic(tmp_path / "no" / "rt.json", b"x")
    assert info.value.path == str(tmp_path / "no")


def test_write_local_ranktable_creates_the_folder_and_writes_0640(tmp_path):
    from console.ops.launch import write_local_ranktable

    target = tmp_path / "remote" / "deep" / "rt.json"
    write_local_ranktable(str(target), b'{"a": 1}')
    assert target.read_bytes() == b'{"a": 1}' and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["rt.json"]

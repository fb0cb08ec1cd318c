"""Host lists are counted before they are expanded (issue 10, item 9)."""

from __future__ import annotations

import pytest

from console.cli import main
from console.core import hosts
from console.core.errors import InputError
from console.core.hosts import count_upper_bound, parse_hosts


@pytest.fixture
def no_expansion(monkeypatch):
    """NodeSet must not even be built: building node[1-10000000] is what took 12 s and 648 MB."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("NodeSet was built before the host count was checked")

    monkeypatch.setattr(hosts, "NodeSet", refuse)


@pytest.mark.parametrize(
    "expr, n",
    [
        ("node[1-10000000]", 10_000_000),
        ("n[01-16]", 16),
        ("10.0.0.[1-4]", 4),
        ("n[1-10/2]", 5),
        ("n[1-3,7,9-10]", 6),
        ("n[1-1000]-[1-1000]", 1_000_000),
        ("n[1-3]!n2", 4),
        ("plain", 1),
    ],
)
def test_count_without_expanding(expr, n):
    assert count_upper_bound(expr) == n


def test_ten_million_hosts_refused_naming_the_expression(no_expansion):
    with pytest.raises(InputError) as info:
        parse_hosts("good1 node[1-10000000]")
    text = str(info.value)
    assert "too many hosts" in text and "'node[1-10000000]'" in text and "100,000" in text
    assert "--max-hosts" in text


def test_the_limit_counts_the_whole_list_before_expanding_any(no_expansion):
    with pytest.raises(InputError, match="'b\\[1-60000\\]'"):
        parse_hosts("a[1-60000],b[1-60000]")
    files = {"hf": "a[1-60000]\n\nb[1-60000]\n"}
    with pytest.raises(InputError) as info:
        parse_hosts("@hf", read_file=files.__getitem__)
    assert info.value.path == "hf:3"


def test_max_hosts_can_be_raised_or_lowered():
    with pytest.raises(InputError, match="more than 10 in all"):
        parse_hosts("n[1-11]", max_hosts=10)
    assert len(parse_hosts("n[1-11]", max_hosts=11)) == 11
    assert len(parse_hosts("n[1-100001]", max_hosts=200_000)) == 100_001


def test_cli_refuses_with_exit_2_and_accepts_max_hosts(capsys, no_expansion):
    assert main(["discover", "node[1-10000000]"]) == 2
    assert "'node[1-10000000]' names 10,000,000 hosts" in capsys.readouterr().err
    assert main(["--max-hosts", "5", "discover", "n[1-6]"]) == 2
    assert "more than 5 in all" in capsys.readouterr().err
    assert main(["ping", "--max-hosts", "5", "n[1-6]"]) == 2
    assert "more than 5 in all" in capsys.readouterr().err


def test_hostfile_and_rank_table_reads_are_bounded(monkeypatch, tmp_path):
    from console.ops import hostfiles, ranktable_files

    monkeypatch.setattr(hostfiles, "MAX_HOSTFILE_BYTES", 64)
    monkeypatch.setattr(ranktable_files, "MAX_FILE_BYTES", 64)
    big = tmp_path / "big"
    big.write_text("node1\n" * 20)
    with pytest.raises(InputError, match="hostfile too large") as info:
        hostfiles.expand_hosts(f"@{big}")
    assert info.value.path == str(big)
    big.write_text('{"server_list": []' + " " * 100 + "}")
    with pytest.raises(InputError, match="file too large") as info:
        ranktable_files.load(big)
    assert info.value.path == str(big) and info.value.exit_code == 2
    small = tmp_path / "small"
    small.write_text("node1\n")
    assert [str(t) for t in hostfiles.expand_hosts(f"@{small}")] == ["node1"]

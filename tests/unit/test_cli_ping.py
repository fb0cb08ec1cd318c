"""`cluster-console ping`: the text tables' axes, and the pair file checked before any SSH."""

from __future__ import annotations

import pytest

import console.remote
from console.cli import main
from console.cli.ping import print_matrix
from console.core.pingresults import PingMatrix, ProbeResult
from console.core.planning.ping import plan_ping
from tests.unit.pingfixtures import host, make_inventory


def _lossy_matrix(data_dir) -> PingMatrix:
    plan = plan_ping(make_inventory(2, 2))
    ok = (data_dir / "hccn_ping_ok.txt").read_text()
    down = (data_dir / "hccn_ping_link_down.txt").read_text()
    results = [
        ProbeResult.from_output(p, 1 if p.src_device == 1 else 0, down if p.src_device == 1 else ok)
        for p in plan.probes
    ]
    return PingMatrix.from_plan(plan, results)


def test_tables_name_both_directions_and_each_axis_host(capsys, data_dir):
    print_matrix(_lossy_matrix(data_dir))
    out = capsys.readouterr().out
    assert "src \\ dst" not in out  # the views merge both directions
    assert "server ↔ server" in out and "both directions" in out
    assert f"{host(1)} dev →" in out and f"{host(0)} dev ↓" in out
    assert "dev " not in out.replace(f"{host(1)} dev →", "").replace(f"{host(0)} dev ↓", "")


class _NoSSH:
    def __init__(self, *args, **kwargs) -> None:
        raise AssertionError("SSH pool opened before the pair file was checked")


@pytest.mark.parametrize("text", ["a:0 b:0\na:x b:1\n", "# only a comment\n"])
def test_bad_pair_file_fails_before_any_ssh(capsys, monkeypatch, tmp_path, text):
    monkeypatch.setattr(console.remote, "Pool", _NoSSH)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(text)
    code = main(["ping", "127.0.0.11", "--pairs", str(pairs)])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert str(pairs) in err


def test_unreadable_pair_file_is_exit_2(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(console.remote, "Pool", _NoSSH)
    code = main(["ping", "127.0.0.11", "--pairs", str(tmp_path)])
    assert code == 2 and "cannot read pair file" in capsys.readouterr().err

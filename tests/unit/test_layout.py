"""Parallel layout planner and `cluster-console layout`."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.cli import main
from console.core.errors import InputError
from console.core.planning.layout import describe_ranks, plan_layout, rank_servers_of
from console.core.ranktable.text import loads


def test_megatron_order_tp_fastest_then_dp_then_pp():
    lay = plan_layout(16, tp=4, pp=2)  # dp derived: 2
    assert lay.dp == 2
    assert lay.groups["tp"] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    assert lay.groups["dp"] == [[0, 4], [1, 5], [2, 6], [3, 7], [8, 12], [9, 13], [10, 14], [11, 15]]
    assert lay.groups["pp"][:2] == [[0, 8], [1, 9]] and len(lay.groups["pp"]) == 8
    assert lay.coords(13) == {"tp_rank": 1, "dp_rank": 1, "pp_rank": 1, "ep_rank": 0}
    assert lay.placeholders() == {"tp": 4, "pp": 2, "ep": 1, "dp": 2}


def test_expert_groups_are_cut_from_each_stage():
    lay = plan_layout(16, tp=2, pp=2, ep=4)  # stage = dp*tp = 8 ranks
    assert lay.groups["ep"] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    whole = plan_layout(16, tp=2, pp=2, ep=8)  # ep = dp*tp: one EP group per stage
    assert whole.groups["ep"] == [list(range(8)), list(range(8, 16))]


@given(tp=st.integers(1, 4), pp=st.integers(1, 3), dp=st.integers(1, 4), data=st.data())
def test_every_kind_partitions_the_world_and_coords_agree(tp, pp, dp, data):
    ep = data.draw(st.sampled_from([e for e in range(1, dp * tp + 1) if dp * tp % e == 0]))
    world = tp * pp * dp
    lay = plan_layout(world, tp=tp, pp=pp, ep=ep)
    sizes = {"tp": tp, "dp": dp, "pp": pp, "ep": ep}
    for kind, groups in lay.groups.items():
        assert sorted(r for g in groups for r in g) == list(range(world)), kind
        assert {len(g) for g in groups} == {sizes[kind]}, kind
    for rank in range(world):
        c = lay.coords(rank)
        assert rank == c["tp_rank"] + tp * (c["dp_rank"] + dp * c["pp_rank"])
        for kind, same in (
            ("tp", ("dp_rank", "pp_rank")),
            ("dp", ("tp_rank", "pp_rank")),
            ("pp", ("tp_rank", "dp_rank")),
            ("ep", ("pp_rank",)),
        ):
            assert all(lay.coords(o)[k] == c[k] for o in lay.group_of(kind, rank) for k in same)
        assert lay.group_of("ep", rank).index(rank) == c["ep_rank"]


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"world_size": 12, "tp": 8}, "the world size 12 is not divisible by tp*pp = 8*1 = 8"),
        ({"world_size": 16, "tp": 8, "pp": 2, "dp": 2}, "tp*pp*dp = 8*2*2 = 32 does not match the world size 16"),
        ({"world_size": 16, "tp": 2, "ep": 3}, "ep 3 does not divide dp*tp = 8*2 = 16"),
        ({"world_size": 16, "tp": 0}, "tp must be an integer >= 1 (got 0)"),
        ({"world_size": 0}, "the world size must be an integer >= 1"),
        ({"world_size": 12, "ranks_per_server": 8}, "the world size 12 is not a multiple of 8 ranks per server"),
        ({"world_size": 4, "rank_servers": ["a", "b"]}, "2 rank servers given for a world size of 4"),
    ],
)
def test_numbers_that_do_not_fit_are_named(kwargs, needle):
    with pytest.raises(InputError) as exc:
        plan_layout(**kwargs)
    assert needle in str(exc.value)


def test_tp_group_across_servers_warns():
    assert plan_layout(32, tp=8, pp=2, ranks_per_server=16).findings == []
    lay = plan_layout(24, tp=4, ranks_per_server=6)
    (f,) = lay.findings
    assert f.severity == "warning" and f.code == "tp_spans_servers"
    assert "2 of 6 TP groups span servers (e.g. ranks 4-7 on server0, server1)" in f.message
    assert "RoCE" in f.message and "divides the 6 ranks per server" in f.message
    assert lay.servers_of([4, 5, 6, 7]) == ["server0", "server1"]
    # without server information there is nothing to check
    assert plan_layout(24, tp=4).findings == []


def test_rank_servers_come_from_the_rank_table(data_dir):
    table = loads((data_dir / "ranktable_seed_2x4.json").read_text())
    servers = rank_servers_of(table)
    assert servers == [table.server_list[0].server_id] * 4 + [table.server_list[1].server_id] * 4
    assert plan_layout(8, tp=4, rank_servers=servers).findings == []
    assert len(plan_layout(8, tp=8, rank_servers=servers).findings) == 1


@pytest.mark.parametrize(
    "ranks, text",
    [
        ([0, 1, 2, 3], "0-3"),
        ([0, 8, 16, 24], "0-24/8"),
        ([5], "5"),
        ([0, 8], "0,8"),
        ([0, 3, 4], "0,3-4"),
        ([0, 1, 4, 5, 8], "0-1,4-5,8"),
    ],
)
def test_describe_ranks(ranks, text):
    assert describe_ranks(ranks) == text


# ---------------------------------------------------------------- CLI


def test_cli_json_with_rank_table(capsys, data_dir):
    code = main(
        ["layout", "--ranktable", str(data_dir / "ranktable_seed_2x4.json"), "--tp", "4", "--pp", "2", "--json"]
    )
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 0 and err == ""
    assert doc["placeholders"] == {"tp": 4, "pp": 2, "ep": 1, "dp": 1}
    assert doc["groups"]["tp"] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert doc["groups"]["pp"] == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert len(doc["rank_servers"]) == 8 and doc["findings"] == []


def test_cli_table_and_warning_on_stderr(capsys):
    code = main(["layout", "--world-size", "16", "--per-server", "4", "--tp", "8"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.splitlines()[0] == "world 16 = tp 8 x dp 2 x pp 1; ep 1 (order tp-dp-pp: tp fastest)"
    tp_row = next(line.split() for line in out.splitlines() if line.startswith("tp "))
    assert tp_row == ["tp", "8", "2", "0-7", "|", "8-15", "2"]
    assert "warning: 2 of 2 TP groups span servers" in err and "warning" not in out


def test_cli_every_group_lists_servers(capsys):
    assert main(["layout", "--world-size", "8", "--per-server", "4", "--tp", "2", "--pp", "2", "--groups"]) == 0
    rows = [line.split(None, 3) for line in capsys.readouterr().out.splitlines()[2:]]
    assert ["tp", "0", "0-1", "server0"] in rows
    assert ["pp", "0", "0,4", "server0, server1"] in rows


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--world-size", "16", "--tp", "8", "--pp", "3"], "not divisible by tp*pp = 8*3 = 24"),
        (["--ranktable", "nope.json", "--tp", "2"], "nope.json"),
        (["--ranktable", "x.json", "--per-server", "8"], "--per-server goes with --world-size"),
    ],
)
def test_cli_input_errors_exit_2(capsys, argv, needle):
    assert main(["layout", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and needle in err

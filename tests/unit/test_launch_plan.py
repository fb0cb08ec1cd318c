"""Launch plan: env of every rank, placeholders, profiles, bad input."""

from __future__ import annotations

import subprocess

import pytest

from console.core.errors import CheckFailed, InputError
from console.core.planning.launch import build_launch_plan, build_prelude, substitute
from console.core.profiles import (
    Profile,
    check_env,
    parse_env_items,
    parse_host_items,
    parse_profile,
)
from console.core.ranktable.model import RankTable
from console.core.ranktable.text import loads
from console.ops.profiles import load_profile, profile_names


def make_table(servers: int = 2, cards: int = 8, *, reverse_devices: bool = False) -> RankTable:
    server_list = []
    for k in range(servers):
        devices = [
            {"device_id": str(d), "device_ip": f"10.0.{k}.{d + 1}", "rank_id": str(k * cards + d)} for d in range(cards)
        ]
        if reverse_devices:
            devices.reverse()
        server_list.append({"server_id": f"192.168.1.{10 + k}", "device": devices})
    return RankTable.model_validate(
        {"status": "completed", "version": "1.0", "server_count": str(servers), "server_list": server_list}
    )


def custom(**fields) -> Profile:
    return Profile(name="custom", **fields)


def test_env_of_every_rank_2x8() -> None:
    plan = build_launch_plan(make_table(), custom(), args=["python3", "x.py"], remote_ranktable="/data/rt.json")
    assert plan.world_size == 16
    assert [s.server_id for s in plan.servers] == ["192.168.1.10", "192.168.1.11"]
    for k, server in enumerate(plan.servers):
        assert server.rank_id_start == 8 * k
        assert [r.rank for r in server.ranks] == list(range(8 * k, 8 * k + 8))
        for local, spec in enumerate(server.ranks):
            env = spec.env
            assert env["RANK"] == str(8 * k + local)
            assert env["LOCAL_RANK"] == str(local)  # not RANK, as the guide's loop has it
            assert env["WORLD_SIZE"] == "16"
            assert env["LOCAL_WORLD_SIZE"] == "8"
            assert env["RANK_ID_START"] == str(8 * k)
            assert env["DEVICE_ID"] == str(local)
            assert env["BACKEND"] == "hccl"
            assert env["RANKTABLEFILE"] == env["RANK_TABLE_FILE"] == "/data/rt.json"
            assert env["MASTER_ADDR"] == env["MASTER_IP"] == "192.168.1.10"
            assert env["MASTER_PORT"] == "29500"


def test_device_id_comes_from_the_table_not_the_position() -> None:
    plan = build_launch_plan(make_table(1, 4, reverse_devices=True), custom(), args=["true"])
    by_rank = {r.rank: r for r in plan.servers[0].ranks}
    assert [by_rank[r].device_id for r in range(4)] == [0, 1, 2, 3]
    assert [by_rank[r].local_rank for r in range(4)] == [0, 1, 2, 3]


def test_master_is_the_server_holding_rank_0(data_dir) -> None:
    table = make_table()
    table.server_list.reverse()  # rank 0's server listed second
    plan = build_launch_plan(table, custom(), args=["true"])
    assert plan.master_addr == "192.168.1.10"
    assert plan.servers[0].rank_id_start == 8
    seed = loads((data_dir / "ranktable_seed_2x4.json").read_text(), "seed")
    plan = build_launch_plan(seed, custom(), args=["true"])
    assert plan.master_addr == "90.90.152.89" and plan.servers[1].rank_id_start == 4
    assert plan.servers[1].ranks[0].env["LOCAL_RANK"] == "0"


def test_placeholders_in_command_and_env() -> None:
    plan = build_launch_plan(
        make_table(),
        custom(tp=8, pp=2),
        args=[
            "run",
            "--tp",
            "{tp}",
            "--pp={pp}",
            "{rank}/{world_size}",
            "--dev",
            "{device_id}",
            "{local_rank}",
            "{ep}{dp}",
        ],
        env={"ASCEND_RT_VISIBLE_DEVICES": "{device_id}", "LITERAL": "${HOME}/{nope}"},
    )
    _, spec = plan.rank(10)
    assert spec.command == "run --tp 8 --pp=2 10/16 --dev 2 2 11"
    assert spec.env["ASCEND_RT_VISIBLE_DEVICES"] == "2"
    assert spec.env["LITERAL"] == "${HOME}/{nope}"
    assert plan.warnings == []


def test_args_are_quoted_and_exec_only_for_simple_commands() -> None:
    plan = build_launch_plan(make_table(1, 1), custom(), args=["echo", "a b", "$X;rm"])
    assert plan.servers[0].ranks[0].command == "echo 'a b' '$X;rm'"
    assert plan.exec_command is True
    plan = build_launch_plan(make_table(1, 1), custom(command="cd /x && run"))
    assert plan.exec_command is False


def test_bundled_mindie_profile() -> None:
    assert {"mindie-run-pa", "custom"} <= set(profile_names())
    profile = load_profile("mindie-run-pa")
    with pytest.raises(InputError, match="needs arguments"):
        build_launch_plan(make_table(), profile)
    plan = build_launch_plan(make_table(), profile, args=["--model_path", "/w/llama"])
    _, spec = plan.rank(9)
    assert spec.command.startswith("python3 ./examples/run_pa.py")
    assert spec.command.endswith("--model_path /w/llama")
    assert spec.env["ATB_LLM_HCCL_ENABLE"] == "1"
    assert "{\nsource /usr/local/Ascend/ascend-toolkit/set_env.sh\n} ||" in plan.prelude
    assert 'cd -- "$ATB_SPEED_HOME_PATH"' in plan.prelude


def test_user_profile_overrides_and_path(tmp_path) -> None:
    (tmp_path / "custom.toml").write_text('command = "mine"\n[env]\nFOO = 1\n')
    profile = load_profile("custom", user_dir=tmp_path)
    assert profile.command == "mine" and profile.env == {"FOO": "1"}
    (tmp_path / "bad.toml").write_text('grace_s = "x"\n')
    with pytest.raises(InputError, match="grace_s") as err:
        load_profile(str(tmp_path / "bad.toml"))
    assert err.value.path == str(tmp_path / "bad.toml")
    with pytest.raises(InputError, match="unknown profile 'nope'"):
        load_profile("nope", user_dir=tmp_path)


def test_profile_rejects_reserved_env_and_bad_toml() -> None:
    with pytest.raises(InputError, match="RANK cannot be set"):
        parse_profile("[env]\nRANK = 1\n", name="p", source="p.toml")
    with pytest.raises(InputError) as err:
        parse_profile("command = \n", name="p", source="p.toml")
    assert err.value.path == "p.toml"
    with pytest.raises(InputError, match="unknown_key"):
        parse_profile("unknown_key = 1\n", name="p", source="p.toml")


@pytest.mark.parametrize("item", ["NOEQUALS", "=value", "1BAD=x", "A-B=1", "WORLD_SIZE=4"])
def test_bad_env_item_is_named(item) -> None:
    with pytest.raises(InputError) as err:
        parse_env_items(["GOOD=1", item])
    name, sep, value = item.partition("=")
    assert (f"{name}=***" if sep else name) in str(err.value)  # named; its value masked
    assert not sep or f"={value}" not in str(err.value)


def test_env_items_and_warnings() -> None:
    env = parse_env_items(["HCCL_CONNECT_TIMEOUT=60", "EMPTY=", "X=a=b"])
    assert env == {"HCCL_CONNECT_TIMEOUT": "60", "EMPTY": "", "X": "a=b"}
    warnings = check_env(
        {"HCCL_CONNECT_TIMEOUT": "60", "HCCL_EXEC_TIMEOUT": "abc", "HCCL_BUFFSIZE": "200", "https_proxy": "http://p"}
    )
    assert any("HCCL_CONNECT_TIMEOUT=60" in w and "[120, 7200]" in w for w in warnings)
    assert any("HCCL_EXEC_TIMEOUT" in w for w in warnings)
    assert any("https_proxy" in w for w in warnings)
    assert not any("HCCL_BUFFSIZE" in w for w in warnings)
    assert check_env({"HCCL_CONNECT_TIMEOUT": "7200"}) == []
    plan = build_launch_plan(make_table(), custom(), args=["x"], env=env)
    assert any("HCCL_CONNECT_TIMEOUT" in w for w in plan.warnings)


def test_master_port_and_backend_from_env() -> None:
    plan = build_launch_plan(make_table(), custom(), args=["x"], env={"MASTER_PORT": "6000", "BACKEND": "lccl"})
    assert plan.master_port == 6000 and plan.backend == "lccl"
    assert plan.rank(3)[1].env["BACKEND"] == "lccl"
    with pytest.raises(InputError, match="MASTER_PORT"):
        build_launch_plan(make_table(), custom(), args=["x"], env={"MASTER_PORT": "http"})


def test_host_mapping() -> None:
    hosts = parse_host_items(["192.168.1.11=root@node2"])
    plan = build_launch_plan(make_table(), custom(), args=["x"], hosts=hosts)
    assert [s.host for s in plan.servers] == ["192.168.1.10", "root@node2"]
    with pytest.raises(InputError, match=r"10\.9\.9\.9"):
        build_launch_plan(make_table(), custom(), args=["x"], hosts={"10.9.9.9": "h"})
    for bad in ("nohost", "=x", "a="):
        with pytest.raises(InputError, match="bad --host"):
            parse_host_items([bad])


def test_refuses_tables_it_cannot_launch(data_dir) -> None:
    bad = loads((data_dir / "ranktable_bad_interleaved.json").read_text(), "bad")
    with pytest.raises(CheckFailed, match=r"non-consecutive|rank"):
        build_launch_plan(bad, custom(), args=["x"])
    gap = make_table()
    for dev in gap.server_list[1].device:
        dev.rank_id += 1
    with pytest.raises(CheckFailed, match="missing"):
        build_launch_plan(gap, custom(), args=["x"])
    dup = make_table()
    dup.server_list[1].device[0].rank_id = 0
    with pytest.raises(CheckFailed, match="rank_id 0"):
        build_launch_plan(dup, custom(), args=["x"])


def test_no_command_and_relative_remote_path() -> None:
    with pytest.raises(InputError, match="no command"):
        build_launch_plan(make_table(), custom())
    with pytest.raises(InputError, match="absolute"):
        build_launch_plan(make_table(), custom(), args=["x"], remote_ranktable="rt.json")


def test_parallel_mismatch_warns() -> None:
    plan = build_launch_plan(make_table(), custom(tp=4), args=["x"])
    assert any("tp*pp*dp = 4" in w for w in plan.warnings)


def test_prelude_and_substitute() -> None:
    prelude = build_prelude(["source a.sh"], '/x/"$Y"', strict=True)
    assert prelude.splitlines()[:3] == [
        "{",
        "source a.sh",
        "} || { rc=$?; printf "
        "'cluster-console: setup line failed (exit %s): %s\\n'"
        " \"$rc\" 'source a.sh' >&2; exit 126; }",
    ]
    assert 'cd -- "/x/\\"$Y\\""' in prelude
    assert build_prelude(["a"], "", strict=False) == "a"
    assert substitute("{rank}-{tp}-${rank}", {"rank": 3, "tp": 2}) == "3-2-$3"


def test_upload_dir_placeholder_and_run_id() -> None:
    profile = custom(upload=["probe"], upload_base="/srv/cc")
    plan = build_launch_plan(
        make_table(1, 2),
        profile,
        run_id="r-1",
        args=["python3", "{upload_dir}/probe.py"],
        env={"PROBE_DIR": "{upload_dir}"},
    )
    assert plan.upload_dir == "/srv/cc/r-1" and plan.uploads == ["probe"]
    folder = "/srv/cc/r-1/192.168.1.10"  # each server its own folder in the run's
    assert plan.servers[0].run_dir == folder
    assert plan.servers[0].ranks[1].command == f"python3 {folder}/probe.py"
    assert plan.servers[0].ranks[0].env["PROBE_DIR"] == folder
    assert plan.servers[0].ranks[0].env["RANK_TABLE_FILE"] == f"{folder}/ranktable.json"
    assert plan.servers[0].ranks[0].env["CLUSTER_CONSOLE_RUN"] == "r-1"


def test_default_run_folder_is_private_per_server_and_rebound() -> None:
    from console.core.planning.launch import bind_run

    plan = build_launch_plan(make_table(2, 1), custom(), args=["ls", "{upload_dir}"])
    assert plan.run_id is None and plan.remote_ranktable == ""
    assert [s.run_dir for s in plan.servers] == [
        "~/.cache/cluster-console/runs/<run-id>/192.168.1.10",
        "~/.cache/cluster-console/runs/<run-id>/192.168.1.11",
    ]
    bound = bind_run(plan, "r-2", {"192.168.1.10": "/home/a/x", "192.168.1.11": "/root/y z"})
    rank = bound.servers[1].ranks[0]
    assert rank.command == "ls '/root/y z'" and bound.run_id == "r-2"
    assert rank.env["RANK_TABLE_FILE"] == rank.env["RANKTABLEFILE"] == "/root/y z/ranktable.json"
    assert (rank.env["CLUSTER_CONSOLE_RUN"], rank.env["CLUSTER_CONSOLE_SERVER"]) == ("r-2", "192.168.1.11")
    explicit = build_launch_plan(make_table(2, 1), custom(), args=["x"], remote_ranktable="/data/rt.json", run_id="r")
    assert {s.ranks[0].env["RANK_TABLE_FILE"] for s in explicit.servers} == {"/data/rt.json"}


@pytest.mark.parametrize(
    "fields,kw,match",
    [
        ({"upload": ["probe"]}, {"run_id": "../x"}, "bad run id"),
        ({"upload": ["probe"], "upload_base": "rel/dir"}, {"run_id": "r"}, "absolute"),
        ({"upload_base": "/srv/../etc"}, {"run_id": "r"}, "'..'"),
    ],
)
def test_upload_needs_a_safe_run_id_and_absolute_base(fields, kw, match) -> None:
    with pytest.raises(InputError, match=match):
        build_launch_plan(make_table(1, 2), custom(**fields), **{"args": ["true"], **kw})


def test_probe_profile_is_bundled() -> None:
    profile = load_profile("probe")
    assert profile.upload == ["probe"] and "{upload_dir}/probe.py" in profile.command
    plan = build_launch_plan(make_table(2, 2), profile, run_id="x", args=["--mode", "all"])
    assert (
        plan.servers[1]
        .ranks[0]
        .command.endswith("/x/192.168.1.11/probe.py --sizes 1K,64K --mode collectives --timeout 120 --mode all")
    )
    assert plan.exec_command


def run_prelude(tmp_path, line: str) -> subprocess.CompletedProcess:
    """The strict prelude for ``line`` followed by ``echo AFTER``, run by bash."""
    script = build_prelude([line], "", strict=True) + "\necho AFTER"
    return subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=20)


@pytest.mark.parametrize("line", ["true  # CANN env, sourced 'here", "printf '%s%%d\\n' 50%", "X=1; export Y=2"])
def test_strict_setup_line_that_passes_runs_on(tmp_path, line) -> None:
    result = run_prelude(tmp_path, line)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "AFTER"
    assert result.stderr == ""


@pytest.mark.parametrize("line", ["false  # a comment with an 'open quote", "test 100% = 50%", "(exit 7)"])
def test_strict_setup_line_that_fails_names_itself_and_exits_126(tmp_path, line) -> None:
    result = run_prelude(tmp_path, line)
    assert result.returncode == 126
    assert "AFTER" not in result.stdout
    code = "7" if line == "(exit 7)" else "1"
    assert result.stderr == f"cluster-console: setup line failed (exit {code}): {line}\n"


def test_leading_assignment_is_not_exec_prefixed() -> None:
    plan = build_launch_plan(make_table(1, 1), custom(), args=["GREETING=hi", "sh", "-c", "x"])
    assert plan.exec_command is False
    plan = build_launch_plan(make_table(1, 1), custom(command="  A_1=x run {rank}"))
    assert plan.exec_command is False
    plan = build_launch_plan(make_table(1, 1), custom(), args=["run", "A=b"])
    assert plan.exec_command is True

"""Security review finding: an explicit remote rank-table path (``--remote-ranktable`` or a
profile's ``remote_ranktable``) must not overwrite a file that is not a rank table, and a
file the launch created there is removed after the job (unless ``--keep-remote``).

The simulated servers share this machine's file system and run as this user (root): the
"owned by root or by you" files of the finding are exactly the files made here.
"""

from __future__ import annotations

import json
import sys

import pytest

from console.core.errors import CheckFailed
from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile, parse_profile
from console.ops import rundir_remote
from console.ops.launch_events import LaunchWarning
from tests.ops.test_launch_rundir import run, small
from tests.ops.test_launch_sim import free_port

SECRET = "ssh-ed25519 AAAA... root@admin\n"


def _plan(table, path, **kw):
    return build_launch_plan(
        table, Profile(name="t"), args=["true"], master_port=free_port(), remote_ranktable=str(path), **kw
    )


async def test_an_existing_file_that_is_not_a_rank_table_is_not_overwritten(sim_cluster, tmp_path) -> None:
    table, data = small(sim_cluster, 1)
    keys = tmp_path / "authorized_keys"
    keys.write_text(SECRET)
    keys.chmod(0o600)
    with pytest.raises(CheckFailed) as err:
        await run(sim_cluster, tmp_path, _plan(table, keys, run_id="rt-1"), table, data)
    assert err.value.path == str(keys) and err.value.host in sim_cluster.hosts
    assert "not a rank table" in err.value.detail and "--force-remote-ranktable" in err.value.detail
    assert keys.read_text() == SECRET


async def test_force_overwrites_and_does_not_remove_what_it_did_not_create(sim_cluster, tmp_path) -> None:
    table, data = small(sim_cluster, 1)
    other = tmp_path / "notes.txt"
    other.write_text("mine")
    plan = _plan(table, other, run_id="rt-2", force_remote_ranktable=True)
    events = await run(sim_cluster, tmp_path, plan, table, data)
    assert events[-1].summary.ok, events[-1].summary.root_cause
    assert other.read_bytes() == data  # replaced as asked, and not the console's to remove


async def test_a_created_rank_table_is_removed_after_the_job(sim_cluster, tmp_path) -> None:
    table, data = small(sim_cluster, 1)
    path = tmp_path / "tables" / "rt.json"
    path.parent.mkdir(mode=0o700)
    events = await run(sim_cluster, tmp_path, _plan(table, path, run_id="rt-3"), table, data)
    assert events[-1].summary.ok, events[-1].summary.root_cause
    assert not path.exists()


async def test_keep_remote_keeps_the_created_rank_table(sim_cluster, tmp_path) -> None:
    table, data = small(sim_cluster, 1)
    path = tmp_path / "rt.json"
    plan = _plan(table, path, run_id="rt-4", keep_remote=True)
    events = await run(sim_cluster, tmp_path, plan, table, data)
    assert events[-1].summary.ok, events[-1].summary.root_cause
    assert path.read_bytes() == data


async def test_an_old_rank_table_is_replaced_and_kept(sim_cluster, tmp_path) -> None:
    table, data = small(sim_cluster, 1)
    path = tmp_path / "rt.json"
    path.write_text(json.dumps({"version": "1.0", "server_count": "0", "server_list": []}))
    events = await run(sim_cluster, tmp_path, _plan(table, path, run_id="rt-5"), table, data)
    assert events[-1].summary.ok, events[-1].summary.root_cause
    assert path.read_bytes() == data  # replaced, and left: the console did not create it


def test_a_symlink_or_bad_json_is_not_a_rank_table(tmp_path) -> None:
    real = tmp_path / "real.json"
    real.write_text(json.dumps({"server_list": []}))
    link = tmp_path / "link.json"
    link.symlink_to(real)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert rundir_remote.is_ranktable(str(real))
    assert not rundir_remote.is_ranktable(str(link))
    assert not rundir_remote.is_ranktable(str(bad))


async def test_a_profile_remote_ranktable_is_flagged_naming_the_profile_file(sim_cluster, tmp_path) -> None:
    table, data = small(sim_cluster, 1)
    path = tmp_path / "rt.json"
    source = str(tmp_path / "received.toml")
    profile = parse_profile(f'remote_ranktable = "{path}"\n', name="received", source=source)
    plan = build_launch_plan(table, profile, args=["true"], master_port=free_port(), run_id="rt-6")
    flagged = [w for w in plan.warnings if source in w and str(path) in w]
    assert len(flagged) == 1
    events = await run(sim_cluster, tmp_path, plan, table, data)
    assert any(isinstance(e, LaunchWarning) and source in e.message for e in events)
    # the operator's own flag is not flagged
    mine = build_launch_plan(
        table, profile, args=["true"], master_port=free_port(), remote_ranktable=str(path), run_id="rt-7"
    )
    assert not [w for w in mine.warnings if source in w]


def test_the_cli_has_the_force_flag() -> None:
    from console.cli import build_parser

    args = build_parser().parse_args(
        [
            "launch",
            "--ranktable",
            "x.json",
            "--remote-ranktable",
            "/a",
            "--force-remote-ranktable",
            "--",
            sys.executable,
        ]
    )
    assert args.force_remote_ranktable is True

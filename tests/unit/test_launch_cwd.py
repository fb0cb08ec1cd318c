"""Launch ``cwd``: ``$NAME``/``${NAME}`` expand on the server, nothing else runs (issue 10, item 9)."""

from __future__ import annotations

import subprocess

import pytest

from console.cli import main
from console.core.errors import InputError
from console.core.planning.launch import build_launch_plan, build_prelude
from console.core.profiles import parse_profile
from tests.unit.test_launch_plan import custom, make_table

BAD = [
    "$(touch {mark})",
    "/srv/`touch {mark}`",
    "${{X:-$(touch {mark})}}",
    "/srv;touch {mark}",
    "/srv\ntouch {mark}",
    "/srv/$((1+1))",
    '/srv/"$(touch {mark})"',
    "/srv|tee {mark}",
]


@pytest.mark.parametrize("cwd", ["$ATB_SPEED_HOME_PATH", "/data/${USER}/run 1", "/srv/models/llama-3:70b", ""])
def test_plain_folders_and_variables_are_kept(cwd, tmp_path):
    plan = build_launch_plan(make_table(1, 1), custom(), args=["true"], cwd=cwd)
    assert plan.prelude == build_prelude([], cwd, strict=True)


@pytest.mark.parametrize("cwd", BAD)
def test_cli_cwd_with_shell_syntax_is_refused_and_never_run(cwd, tmp_path):
    mark = tmp_path / "ran"
    value = cwd.format(mark=mark)
    with pytest.raises(InputError) as info:
        plan = build_launch_plan(make_table(1, 1), custom(), args=["true"], cwd=value)
        # what the old code planned: every rank's shell ran it before the command
        subprocess.run(["bash", "-c", plan.prelude], cwd=tmp_path, capture_output=True, timeout=30, check=False)
    assert not mark.exists()
    assert "--cwd" in str(info.value) and info.value.exit_code == 2


@pytest.mark.parametrize("cwd", BAD)
def test_profile_cwd_with_shell_syntax_names_the_field_and_file(cwd, tmp_path):
    text = (
        "command = 'true'\ncwd = "
        + '"'
        + cwd.format(mark=tmp_path / "ran").replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        + '"\n'
    )
    with pytest.raises(InputError) as info:
        parse_profile(text, name="evil", source="evil.toml")
    assert info.value.path == "evil.toml" and "cwd" in str(info.value)


def test_launch_cli_refuses_cwd_with_exit_2(capsys, data_dir, tmp_path):
    code = main(
        [
            "launch",
            "--ranktable",
            str(data_dir / "ranktable_seed_2x4.json"),
            "--cwd",
            "$(id)",
            "--run-dir",
            str(tmp_path / "runs"),
            "--",
            "true",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "bad --cwd '$(id)'" in err and "command substitution" in err


def test_deeply_nested_profile_is_an_input_error():
    text = "command = 'true'\nx = " + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(InputError) as info:
        parse_profile(text, name="deep", source="deep.toml")
    assert info.value.path == "deep.toml" and "nested too deeply" in str(info.value)

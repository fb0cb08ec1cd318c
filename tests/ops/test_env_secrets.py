"""Security review finding: secret ``--env`` values were visible to every local user (the
console's command line) and a bad item echoed its value in the error message.

Now ``--env NAME`` takes the value from the console's own environment, ``--env-file FILE``
reads KEY=VALUE lines from a file only you can read, and errors mask values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.errors import InputError
from console.core.profiles import parse_env_items
from console.ops.envfile import env_from_options, read_env_file
from console.ui.models.launch_setup import Form
from tests.ops.test_runrecord import TABLE

SECRET = "hf_s3cr3tTokenValue"


@pytest.mark.parametrize("item", [f"HF-TOKEN={SECRET}", f"RANK={SECRET}", f"1X={SECRET}", f"={SECRET}"])
def test_a_bad_env_item_never_shows_its_value(item) -> None:
    with pytest.raises(InputError) as err:
        parse_env_items([item], {})
    text = str(err.value) + repr(err.value.__dict__)
    assert SECRET not in text and "***" in text
    if item[0] != "=":
        assert item.split("=")[0] in text  # the name is shown


def test_a_value_typed_without_its_name_is_masked() -> None:
    with pytest.raises(InputError) as err:
        parse_env_items([SECRET + "-x"], {})
    assert SECRET not in str(err.value) + repr(err.value.__dict__)


def test_a_bare_name_comes_from_the_environment() -> None:
    assert parse_env_items(["HF_TOKEN", "A=1"], {"HF_TOKEN": SECRET}) == {"HF_TOKEN": SECRET, "A": "1"}
    with pytest.raises(InputError) as err:
        parse_env_items(["HF_TOKEN"], {})
    assert "HF_TOKEN" in str(err.value) and "not set" in str(err.value)


def _env_file(tmp_path: Path, text: str, mode: int = 0o600) -> str:
    path = tmp_path / "secrets.env"
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def test_an_env_file_is_read_and_the_command_line_wins(tmp_path) -> None:
    path = _env_file(tmp_path, f"# tokens\n\nHF_TOKEN={SECRET}\nA=from file\nB= spaced  \n")
    assert read_env_file(path) == {"HF_TOKEN": SECRET, "A": "from file", "B": " spaced  "}
    assert env_from_options(["A=cli"], [path], {}) == {"HF_TOKEN": SECRET, "A": "cli", "B": " spaced  "}


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_an_env_file_others_can_read_is_refused(tmp_path, mode) -> None:
    path = _env_file(tmp_path, f"HF_TOKEN={SECRET}\n", mode)
    with pytest.raises(InputError) as err:
        read_env_file(path)
    assert err.value.path == path and f"{mode:04o}" in str(err.value)


def test_a_bad_env_file_line_names_the_file_and_line_not_the_value(tmp_path) -> None:
    path = _env_file(tmp_path, f"A=1\n# c\nHF-TOKEN={SECRET}\n")
    with pytest.raises(InputError) as err:
        read_env_file(path)
    text = str(err.value) + repr(err.value.__dict__)
    assert err.value.path == f"{path}:3" and SECRET not in text and "HF-TOKEN" in text
    path = _env_file(tmp_path, f"{SECRET}\n")
    with pytest.raises(InputError) as err:
        read_env_file(path)
    assert err.value.path == f"{path}:1" and SECRET not in str(err.value) + repr(err.value.__dict__)


def test_the_launch_pane_uses_the_same_parser(monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    form = Form(profile="default", command="true", env="HF_TOKEN A=1", setup="")
    assert form.env_items() == {"HF_TOKEN": SECRET, "A": "1"}
    with pytest.raises(InputError) as err:
        Form(profile="default", command="true", env=f"HF-TOKEN={SECRET}", setup="").env_items()
    assert SECRET not in str(err.value) + repr(err.value.__dict__)


def _launch(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    table = tmp_path / "rt.json"
    table.write_text(json.dumps(TABLE))
    argv = [
        sys.executable,
        "-m",
        "console",
        "launch",
        "--local",
        "--ranktable",
        str(table),
        "--run-dir",
        str(tmp_path / "runs"),
        "--no-preflight",
        *args,
        "--",
        "bash",
        "-c",
        'echo "token=${HF_TOKEN:0:3}"',
    ]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **(env or {})}
    )


def test_cli_a_bad_env_item_exits_2_without_its_value(tmp_path) -> None:
    done = _launch(tmp_path, "--env", f"HF-TOKEN={SECRET}")
    assert done.returncode == 2, done.stderr
    assert "HF-TOKEN" in done.stderr and SECRET not in done.stderr + done.stdout


def test_cli_env_name_and_env_file_reach_the_ranks(tmp_path) -> None:
    done = _launch(tmp_path, "--env", "HF_TOKEN", env={"HF_TOKEN": SECRET})
    assert done.returncode == 0, done.stderr
    assert "token=hf_" in done.stdout
    path = _env_file(tmp_path, f"HF_TOKEN={SECRET}\n")
    done = _launch(tmp_path, "--env-file", path)
    assert done.returncode == 0, done.stderr
    assert "token=hf_" in done.stdout
    os.chmod(path, 0o644)
    done = _launch(tmp_path, "--env-file", path)
    assert done.returncode == 2 and path in done.stderr

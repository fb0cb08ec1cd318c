"""``rundir_remote`` (the server-side run-folder helper, called in-process here): the run
and server folder names are plain names, and ``remove`` rebuilds the path itself."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from console.ops.rundir_remote import handle


def _make(base: Path, run: str, name: str) -> dict:
    files = {"a.txt": [base64.b64encode(b"x").decode(), 0o600]}
    return handle({"op": "make", "base": str(base), "run": run, "name": name, "files": files, "table": None})


@pytest.mark.parametrize(
    ("run", "name"),
    [("r1", "../escaped"), ("r1", ".."), ("../up", "s1"), ("r1", "{tmp}/abs/escaped"), ("{tmp}/abs", "s1"), ("", "s1")],
)
def test_make_refuses_folder_names_that_leave_the_base(tmp_path: Path, run: str, name: str) -> None:
    base = tmp_path / "base" / "runs"
    run, name = run.format(tmp=tmp_path), name.format(tmp=tmp_path)  # absolute names stay in tmp_path
    answer = _make(base, run, name)
    assert not answer["ok"] and "plain" in answer["why"], answer
    assert not (tmp_path / "base" / "escaped").exists() and not (tmp_path / "abs").exists()
    assert not (tmp_path / "base" / "up").exists()


def test_remove_takes_names_not_a_path(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    made = _make(base, "r1", "s1")
    assert made["ok"] and Path(made["dir"]).is_dir()
    victim = tmp_path / "mine-but-not-a-run-folder"
    victim.mkdir()
    # a whole path is no longer a request: nothing outside the base is removed
    answer = handle({"op": "remove", "dir": str(victim)})
    assert not answer["ok"] and victim.is_dir()
    for name in ("..", "../mine-but-not-a-run-folder", str(victim)):
        answer = handle({"op": "remove", "base": str(base), "run": "r1", "name": name})
        assert not answer["ok"] and "plain" in answer["why"]
    assert victim.is_dir() and Path(made["dir"]).is_dir()
    answer = handle({"op": "remove", "base": str(base), "run": "r1", "name": "s1"})
    assert answer["ok"] and not Path(made["dir"]).exists() and not (base / "r1").exists()
    assert handle({"op": "remove", "base": str(base), "run": "r1", "name": "s1"})["gone"]

"""Where user launch profiles live: the user config folder, as platformdirs (XDG) gives it."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.ops.profiles import profile_names, user_profile_dir


def test_xdg_config_home_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_profile_dir() == tmp_path / "cluster-console" / "profiles"
    (tmp_path / "cluster-console" / "profiles").mkdir(parents=True)
    (tmp_path / "cluster-console" / "profiles" / "mine.toml").write_text('command = "true"\n')
    assert "mine" in profile_names()


@pytest.mark.parametrize("value", ["relative/dir", "", "   "])
def test_a_relative_or_empty_xdg_config_home_is_ignored(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The XDG spec: relative paths are invalid and ignored. Never read profiles (commands
    every rank runs) from a folder under whatever the current directory happens to be."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", value)
    assert user_profile_dir() == tmp_path / ".config" / "cluster-console" / "profiles"

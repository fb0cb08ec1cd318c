"""Find and read launch profiles: bundled ones and the user's own.

User profiles: ``profiles/*.toml`` in the user config folder that ``platformdirs`` gives
(``$XDG_CONFIG_HOME/cluster-console``, ``~/.config/cluster-console`` when that is unset or not
an absolute path, as the XDG spec says); a user profile with a bundled profile's name replaces it.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import platformdirs

from console.core.errors import InputError
from console.core.profiles import Profile, parse_profile

DEFAULT_PROFILE = "custom"


APP_NAME = "cluster-console"


def user_profile_dir() -> Path:
    return platformdirs.user_config_path(APP_NAME) / "profiles"


def _bundled() -> dict[str, str]:
    found = {}
    for entry in resources.files("console.profiles").iterdir():
        if entry.name.endswith(".toml"):
            found[entry.name[:-5]] = entry.read_text(encoding="utf-8")
    return found


def _sources(user_dir: Path | None) -> dict[str, tuple[str, str]]:
    """name -> (source label, text)."""
    sources = {name: (f"<bundled>/{name}.toml", text) for name, text in _bundled().items()}
    folder = user_dir if user_dir is not None else user_profile_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.toml")):
            try:
                sources[path.stem] = (str(path), path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError("cannot read profile", str(exc), path=str(path)) from None
    return sources


def bundled_profile_names() -> list[str]:
    """The profiles shipped in ``console/profiles`` (``custom``, ``mindie-run-pa``, ``probe``)."""
    return sorted(
        entry.name[:-5] for entry in resources.files("console.profiles").iterdir() if entry.name.endswith(".toml")
    )


def profile_names(user_dir: Path | None = None) -> list[str]:
    return sorted(_sources(user_dir))


def load_profile(name_or_path: str | None, user_dir: Path | None = None) -> Profile:
    """A profile by name (user's first, then bundled) or by path to a .toml file."""
    name = name_or_path or DEFAULT_PROFILE
    if name.endswith(".toml") or os.sep in name:
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError("cannot read profile", str(exc), path=str(path)) from None
        return parse_profile(text, name=path.stem, source=str(path))
    sources = _sources(user_dir)
    if name not in sources:
        raise InputError(
            f"unknown profile {name!r}",
            f"known: {', '.join(sorted(sources))}",
            hint=f"or put {name}.toml in {user_dir or user_profile_dir()}",
        )
    source, text = sources[name]
    return parse_profile(text, name=name, source=source)

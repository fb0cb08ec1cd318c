"""Files a launch profile ships to every server: bundles and local files, in ``{upload_dir}``.

A profile's ``upload = [...]`` (and ``launch --upload``) names either a **bundle** (a word,
see ``BUNDLES``: ``probe`` = the modules of ``console.probe``, read as package data, the
same files as ``console.probe.ship_files()``) or a **local file** (a path:
contains ``/`` or starts with ``~`` or ``.``). Every file lands flat in each server's private
run folder (``{upload_dir}``), so the command reaches it as ``{upload_dir}/<file name>``.
Writing them there (atomic, mode 0644, sha256 read back) is ``console.ops.rundir``'s job.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from console.core.errors import InputError


def _probe_bundle() -> list[Path]:
    """Every module of the ``console.probe`` package (as data: = its ``ship_files()``)."""
    folder = resources.files("console.probe")
    files = sorted(
        (Path(str(folder)) / e.name) for e in folder.iterdir() if e.name.endswith(".py") and e.name != "__init__.py"
    )
    return files


#: Bundle name -> local files (flat, shipped together into upload_dir).
BUNDLES: dict[str, Callable[[], list[Path]]] = {"probe": _probe_bundle}


def _is_path(name: str) -> bool:
    return "/" in name or name.startswith(("~", "."))


def _paths(name: str) -> list[Path]:
    if _is_path(name):
        return [Path(os.path.expanduser(name))]
    if name not in BUNDLES:
        raise InputError(
            f"unknown upload bundle {name!r}",
            f"known: {', '.join(sorted(BUNDLES))}",
            hint="or give a file path (./file, /abs/file, ~/file)",
        )
    return BUNDLES[name]()


def resolve_uploads(names: list[str]) -> dict[str, bytes]:
    """Remote file name -> content, for every bundle / path in ``names``."""
    files: dict[str, bytes] = {}
    origin: dict[str, str] = {}
    for name in names:
        for path in _paths(name):
            if path.name in files:
                raise InputError(
                    f"two uploads are named {path.name!r}", f"{origin[path.name]} and {path}", path=str(path)
                )
            try:
                files[path.name] = path.read_bytes()
            except OSError as exc:
                raise InputError("cannot read a file to upload", exc.strerror or str(exc), path=str(path)) from None
            origin[path.name] = str(path)
    return files


def digests(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}

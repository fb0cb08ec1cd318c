"""Files a launch profile ships to every server: bundles and local files, in ``upload_dir``.

A profile's ``upload = [...]`` (and ``launch --upload``) names either a **bundle** (a word,
see ``BUNDLES``: ``probe`` = the modules of ``console.probe``, read as package data, the
same files as ``console.probe.ship_files()``) or a **local file** (a path:
contains ``/`` or starts with ``~`` or ``.``). Every file lands flat in the plan's
``upload_dir`` (``<upload_base>/<run id>``, run-specific), so the command reaches it as
``{upload_dir}/<file name>``. Uploads are SFTP, atomic, mode 0644, then ``sha256sum``-checked
like the rank table. Without a pool (local agents) the files are written on this machine.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import posixpath
import shlex
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from console.core.errors import CheckFailed, InputError, RemoteError
from console.core.planning.launch import LaunchPlan, ServerPlan


def _probe_bundle() -> list[Path]:
    """Every module of the ``console.probe`` package (as data: = its ``ship_files()``)."""
    folder = resources.files("console.probe")
    files = sorted((Path(str(folder)) / e.name) for e in folder.iterdir()
                   if e.name.endswith(".py") and e.name != "__init__.py")
    return files


#: Bundle name -> local files (flat, shipped together into upload_dir).
BUNDLES: dict[str, Callable[[], list[Path]]] = {"probe": _probe_bundle}


def _is_path(name: str) -> bool:
    return "/" in name or name.startswith(("~", "."))


def _paths(name: str) -> list[Path]:
    if _is_path(name):
        return [Path(os.path.expanduser(name))]
    if name not in BUNDLES:
        raise InputError(f"unknown upload bundle {name!r}", f"known: {', '.join(sorted(BUNDLES))}",
                         hint="or give a file path (./file, /abs/file, ~/file)")
    return BUNDLES[name]()


def resolve_uploads(names: list[str]) -> dict[str, bytes]:
    """Remote file name -> content, for every bundle / path in ``names``."""
    files: dict[str, bytes] = {}
    origin: dict[str, str] = {}
    for name in names:
        for path in _paths(name):
            if path.name in files:
                raise InputError(f"two uploads are named {path.name!r}",
                                 f"{origin[path.name]} and {path}", path=str(path))
            try:
                files[path.name] = path.read_bytes()
            except OSError as exc:
                raise InputError("cannot read a file to upload", exc.strerror or str(exc),
                                 path=str(path)) from None
            origin[path.name] = str(path)
    return files


def digests(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def write_local(plan: LaunchPlan, files: dict[str, bytes], mode: int = 0o644) -> None:
    """Local agents: the files into ``plan.upload_dir`` on this machine."""
    folder = Path(plan.upload_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
            (folder / name).chmod(mode)
    except OSError as exc:
        raise InputError("cannot write the upload folder", str(exc), path=str(folder)) from None


async def upload_files(pool: Any, plan: LaunchPlan, files: dict[str, bytes],
                       mode: int = 0o644) -> dict[str, str]:
    """Every file to ``plan.upload_dir`` on every server; returns name -> sha256."""
    want = digests(files)
    folder = plan.upload_dir
    paths = [posixpath.join(folder, name) for name in files]

    async def one(server: ServerPlan) -> None:
        mk = await pool.run(server.host, f"mkdir -p -- {shlex.quote(folder)}")
        if not mk.ok:
            raise RemoteError("cannot create the upload folder", mk.stderr.strip(),
                              host=server.host, path=folder, command=mk.command)
        for name, data in files.items():
            await pool.put_file(server.host, data, posixpath.join(folder, name), mode=mode)
        check = await pool.run(server.host, "sha256sum -- " + " ".join(map(shlex.quote, paths)))
        got = {posixpath.basename(p): d for d, p in
               (line.split(None, 1) for line in check.stdout.splitlines() if " " in line)}
        for name, digest in want.items():
            if got.get(name) != digest:
                raise CheckFailed("uploaded file differs", f"{name}: sha256 {got.get(name)} "
                                  f"!= local {digest}", host=server.host,
                                  path=posixpath.join(folder, name), command=check.command)

    await asyncio.gather(*(one(s) for s in plan.servers))
    return want

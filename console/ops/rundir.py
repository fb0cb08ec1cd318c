"""The launch's private run folder on every server: made, filled, checked, removed.

``make_run_dirs`` runs ``rundir_remote.py`` (stdlib, sent as ``python3 -c``) on every server
in one round trip each: the folder ``<upload_base>/<run id>/<server>`` is created fresh with
mode 0700 after every existing component of its path passed the ownership checks, the rank
table (``ranktable.json``, 0640; or the explicit ``--remote-ranktable`` path, whose folder
gets the same checks and where an existing file must be a rank table, unless
``--force-remote-ranktable``; a file created there is removed with the run folder) and the
uploads (0644) are written atomically without following symlinks, and their sha256 read
back from disk must equal ours. The plan is then bound to the real folders
(``console.core.planning.launch.bind_run``). Without a pool (``--local``) the same code runs
in this process.

``remove_run_dirs``: removal by the console, for servers whose host agent did not remove its
folder itself (it never started, or was lost).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shlex
from functools import lru_cache
from importlib import resources
from typing import Any

from console.core.errors import CheckFailed, ConsoleError, InputError, RemoteError
from console.core.planning.launch import LaunchPlan, ServerPlan, bind_run
from console.core.planning.rundir import RANKTABLE_NAME, folder_names
from console.ops import rundir_remote

TABLE_MODE = 0o640
UPLOAD_MODE = 0o644
REMOVE_TIMEOUT_S = 15.0


@lru_cache(maxsize=1)
def helper_source() -> str:
    # The path walk, then the sha256 function (as in the agent's program), then the helper.
    walk = resources.files("console.core").joinpath("pathwalk.py").read_text(encoding="utf-8")
    ops = resources.files("console.ops")
    parts = [ops.joinpath(name).read_text(encoding="utf-8") for name in ("filehash_remote.py", "rundir_remote.py")]
    return "\n".join([walk, *parts])


def _command(python: str) -> str:
    return f"{shlex.quote(python)} -c {shlex.quote(helper_source())}"


def _answer(result: Any) -> dict | None:
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(rundir_remote.MARK + " "):
            try:
                answer = json.loads(line[len(rundir_remote.MARK) + 1 :])
            except ValueError:
                return None
            return answer if isinstance(answer, dict) else None
    return None


async def _ask(pool: Any, plan: LaunchPlan, server: ServerPlan, req: dict) -> dict:
    if pool is None:
        return await asyncio.to_thread(rundir_remote.handle, req)
    result = await pool.run(server.host, _command(plan.python), input=json.dumps(req))
    answer = _answer(result)
    if answer is None:
        why = (result.stderr.strip() or result.stdout.strip())[-400:] or "no answer"
        raise RemoteError(
            "cannot prepare the run folder",
            f"exit {result.exit_status}: {why}",
            host=server.host,
            command=f"{plan.python} -c <rundir helper>",
            hint=f"the servers need {plan.python} (the host agent needs it too)",
        )
    return answer


def _request(
    plan: LaunchPlan, name: str, table: bytes, files: dict[str, bytes], private: dict[str, bytes], private_mode: int
) -> dict[str, Any]:
    enc = {n: [base64.b64encode(d).decode("ascii"), UPLOAD_MODE] for n, d in files.items()}
    enc.update({n: [base64.b64encode(d).decode("ascii"), private_mode] for n, d in private.items()})
    req: dict[str, Any] = {
        "op": "make",
        "base": plan.run_base,
        "run": plan.run_id,
        "name": name,
        "files": enc,
        "table": None,
    }
    table_b64 = base64.b64encode(table).decode("ascii")
    if plan.remote_ranktable:
        req["table"] = {
            "path": plan.remote_ranktable,
            "b64": table_b64,
            "mode": TABLE_MODE,
            "force": plan.force_remote_ranktable,
        }
    else:
        enc[RANKTABLE_NAME] = [table_b64, TABLE_MODE]
    return req


def _refused(answer: dict, host: str) -> ConsoleError:
    return CheckFailed(
        "unsafe or unusable folder on the server: launch refused",
        f"{answer.get('path')}: {answer.get('why')}",
        host=host,
        path=str(answer.get("path") or ""),
        hint="another user may control that folder; use a folder of your own (profile upload_base, --remote-ranktable)",
    )


async def make_run_dirs(
    pool: Any,
    plan: LaunchPlan,
    table: bytes,
    files: dict[str, bytes],
    private: dict[str, dict[str, bytes]] | None = None,
    private_mode: int = TABLE_MODE,
) -> tuple[LaunchPlan, dict[str, dict[str, str]]]:
    """(the plan bound to each server's real run folder, server_id -> {path: sha256}).
    ``files`` go to every server (mode 0644); ``private``: server_id -> {name: bytes} for
    that server only (``private_mode``)."""
    private = private or {}
    if plan.run_id is None:
        raise InputError("the plan has no run id", hint="bind_run(plan, run_id, ...)")
    names_used = set(files) | {n for per in private.values() for n in per}
    if not plan.remote_ranktable and RANKTABLE_NAME in names_used:
        raise InputError(f"an upload is named {RANKTABLE_NAME}: that name is the rank table's", hint="rename the file")
    names = folder_names(s.server_id for s in plan.servers)
    want = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    want_table = hashlib.sha256(table).hexdigest()

    created: set[str] = set()

    async def one(server: ServerPlan) -> tuple[str, dict[str, str]]:
        own = private.get(server.server_id, {})
        req = _request(plan, names[server.server_id], table, files, own, private_mode)
        answer = await _ask(pool, plan, server, req)
        if not answer.get("ok"):
            raise _refused(answer, server.host)
        folder, sums = str(answer["dir"]), dict(answer.get("sha256") or {})
        if plan.remote_ranktable and answer.get("table_created") is True:
            created.add(server.server_id)
        expected = {f"{folder}/{n}": d for n, d in want.items()}
        expected.update({f"{folder}/{n}": hashlib.sha256(d).hexdigest() for n, d in own.items()})
        expected[plan.remote_ranktable or f"{folder}/{RANKTABLE_NAME}"] = want_table
        for path, digest in expected.items():
            if sums.get(path) != digest:
                raise CheckFailed(
                    "uploaded file differs", f"sha256 {sums.get(path)} != local {digest}", host=server.host, path=path
                )
        return folder, sums

    results = await asyncio.gather(*(one(s) for s in plan.servers), return_exceptions=True)
    made = {s.server_id: r[0] for s, r in zip(plan.servers, results, strict=True) if isinstance(r, tuple)}
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        await remove_run_dirs(pool, _mark_created(plan.model_copy(update={"keep_remote": False}), created), made)
        raise failed[0]
    bound = _mark_created(bind_run(plan, plan.run_id, made), created)
    return bound, {
        sid: r[1] for sid, r in zip([s.server_id for s in plan.servers], results, strict=True) if isinstance(r, tuple)
    }


def _mark_created(plan: LaunchPlan, created: set[str]) -> LaunchPlan:
    return plan.model_copy(
        update={"servers": [s.model_copy(update={"ranktable_created": s.server_id in created}) for s in plan.servers]}
    )


async def remove_run_dirs(pool: Any, plan: LaunchPlan, dirs: dict[str, str]) -> list[tuple[str, str]]:
    """Remove ``dirs`` (server_id -> folder), and the explicit rank table where the launch
    created it (``ServerPlan.ranktable_created``); returns (host, problem) for each failure."""
    if plan.keep_remote:
        return []

    names = folder_names(s.server_id for s in plan.servers)

    async def one(server: ServerPlan) -> tuple[str, str] | None:
        # the helper rebuilds <base>/<run>/<name> itself: it never removes a path it is handed
        req = {"op": "remove", "base": plan.run_base, "run": plan.run_id, "name": names[server.server_id]}
        if server.ranktable_created and plan.remote_ranktable:
            req["table"] = plan.remote_ranktable
        try:
            answer = await asyncio.wait_for(_ask(pool, plan, server, req), REMOVE_TIMEOUT_S)
        except (TimeoutError, ConsoleError, OSError) as exc:
            return server.host, f"run folder {dirs[server.server_id]} not removed: {exc}"
        if not answer.get("ok"):
            return server.host, f"run folder not removed: {answer.get('path')}: {answer.get('why')}"
        return None

    todo = [s for s in plan.servers if s.server_id in dirs]
    found = await asyncio.gather(*(one(s) for s in todo))
    return [f for f in found if f is not None]

"""Make, fill and remove a launch's private run folder. Runs ON a server (and locally).

STDLIB ONLY, Python >= 3.6: ``console.ops.rundir`` sends this file as ``python3 -c SOURCE``
with one JSON request on stdin; the answer is ONE line ``__CLUSTER_CONSOLE_RUNDIR__ {json}``
(whatever a login script prints around it is ignored). ``--local`` launches call ``handle()``
in-process.

Requests:
  {"op": "make", "base": "~/.cache/cluster-console/runs", "run": RUN_ID, "name": SERVER,
   "files": {NAME: [BASE64, MODE]},
   "table": null | {"path": ABS, "b64": ..., "mode": MODE, "force": BOOL}}
  {"op": "remove", "base": ..., "run": RUN_ID, "name": SERVER,   (the folder ``make`` made)
   "table": ABS (optional: an explicit rank table we created)}
Answers: {"ok": true, "dir": REAL_PATH, "sha256": {PATH: HEX}, "table_created": BOOL} or
         {"ok": false, "path": PATH, "why": TEXT}.

Rules (the security model: other local users are not trusted):
* every existing component of the folder's path, from ``/``, is checked with ``lstat`` by
  ``console.core.pathwalk`` (the one walk ``Pool.put_file`` uses too; its text precedes this
  one on a server): a folder owned by you or root, not writable by group or others unless it
  is a root-owned sticky folder (``/tmp``); a symlink must be owned by you or root (it is
  followed and its target checked the same way); missing components are created with mode 0700;
* the run folder itself (``<base>/<run>/<name>``) is created fresh with mode 0700 and
  refused if it already exists;
* files are written to a temporary name opened with O_EXCL|O_NOFOLLOW, fsync'ed, given their
  mode, renamed into place, then read back (O_NOFOLLOW) for their sha256;
* an explicit rank-table path gets the same checks on its folder; an existing file there
  must be yours or root's AND a rank table (JSON with a ``server_list`` list: one the
  console wrote before), unless the request says ``"force": true``
  (``--force-remote-ranktable``); the answer's ``table_created`` says whether the file is
  new, and ``remove`` with ``"table": PATH`` removes such a file (a regular file of yours).
"""

import base64
import binascii
import json
import os
import shutil
import stat
import sys

MARK = "__CLUSTER_CONSOLE_RUNDIR__"
DIR_MODE = 0o700
TABLE_READ_MAX = 16 << 20


if __package__:  # imported (tests, --local); on a server pathwalk.py precedes this text
    from console.core.pathwalk import Refused, walk_folder


def _owner(uid):
    try:
        import pwd

        return f"{uid} ({pwd.getpwuid(uid).pw_name})"
    except (ImportError, KeyError):
        return str(uid)


def secure_dir(path, create):
    """The real path of folder ``path`` (absolute) once every component passed the checks
    (``console.core.pathwalk``); missing components are created (0700) when ``create``."""
    walk = walk_folder(path, os.geteuid(), _owner)
    answer = None  # type: object
    while True:
        try:
            op, cur = walk.send(answer)
        except StopIteration as done:
            return done.value
        if op == "readlink":
            answer = os.readlink(cur)
            continue
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            if not create:
                raise Refused(cur, "does not exist") from None
            try:
                os.mkdir(cur, DIR_MODE)
            except FileExistsError:
                pass  # made meanwhile (another server sharing this home): checked below
            st = os.lstat(cur)
        answer = (st.st_mode, st.st_uid)


def write_file(folder, name, data, mode):
    """Atomically put ``data`` at ``folder/name`` (folder already checked)."""
    dest = os.path.join(folder, name)
    tmp = os.path.join(folder, f".{name}.{binascii.hexlify(os.urandom(6)).decode()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, dest)
    return dest


if __package__:  # imported (tests, --local); on a server filehash_remote.py precedes this text
    from console.ops.filehash_remote import file_sha256


def _base(base):
    full = os.path.expanduser(base)
    if not full.startswith("/"):
        raise Refused(base, "cannot resolve ~ (no home folder)")
    return full


def _plain(name, what):
    """``name`` when it is one plain path component (no ``/``, not ``.``/``..``), else refused."""
    if not isinstance(name, str) or "/" in name or "\0" in name or name in ("", ".", ".."):
        raise Refused(str(name), f"is not a plain {what} name")
    return name


def make(req):
    """The run folder, filled; on any failure nothing of it is left behind."""
    run, name = _plain(req["run"], "run folder"), _plain(req["name"], "server folder")
    table = req.get("table")
    table_dir = secure_dir(os.path.dirname(table["path"]), True) if table else None
    parent = secure_dir(os.path.join(_base(req["base"]), run), True)
    folder = os.path.join(parent, name)
    try:
        os.mkdir(folder, DIR_MODE)
    except FileExistsError:
        raise Refused(folder, "already exists: a run folder is never reused") from None
    try:
        sums, created = _fill(req, folder, table, table_dir)
        return {"ok": True, "dir": folder, "sha256": sums, "table_created": created}
    except BaseException:
        remove({"base": req["base"], "run": run, "name": name})  # the folder only
        raise


def _fill(req, folder, table, table_dir):
    uid = os.geteuid()
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
        raise Refused(folder, "is not a private folder right after it was made")
    sums = {}
    for name, (b64, mode) in sorted(req.get("files", {}).items()):
        _plain(name, "file")
        path = write_file(folder, name, base64.b64decode(b64), mode)
        sums[path] = file_sha256(path)
    created = False
    if table:
        name = os.path.basename(table["path"])
        try:
            old = os.lstat(os.path.join(table_dir, name))  # type: os.stat_result | None
        except FileNotFoundError:
            old = None
        if old is not None:
            _may_replace(table, old, os.path.join(table_dir, name), uid)
        created = old is None
        path = write_file(table_dir, name, base64.b64decode(table["b64"]), table["mode"])
        sums[table["path"]] = file_sha256(path)
    return sums, created


def _may_replace(table, old, real, uid):
    """Refuse to overwrite an existing file at an explicit rank-table path unless it is
    ours or root's and a rank table (or the operator forced it)."""
    if old.st_uid not in (uid, 0) or stat.S_ISDIR(old.st_mode):
        raise Refused(
            table["path"],
            "exists and is {}".format(
                "a folder" if stat.S_ISDIR(old.st_mode) else f"owned by uid {_owner(old.st_uid)}, not by you or root"
            ),
        )
    if table.get("force") or is_ranktable(real):
        return
    raise Refused(
        table["path"],
        "exists and is not a rank table the console wrote (not a "
        "regular file holding RankTableFile JSON): not overwritten; choose another "
        "path, or pass --force-remote-ranktable to replace it",
    )


def is_ranktable(path):
    """Whether ``path`` is a regular file (not a symlink) holding RankTableFile JSON."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        data = b""
        while len(data) <= TABLE_READ_MAX:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > TABLE_READ_MAX:
        return False
    try:
        doc = json.loads(data.decode("utf-8"))
    except ValueError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("server_list"), list)


def remove_table(path):
    """Remove an explicit rank table this console created: a regular file of yours only."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        raise Refused(path, "is not a regular file of yours: not removed")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # removed meanwhile by another server's removal (one shared filesystem)


def remove(req):
    """Remove the run folder ``<base>/<run>/<name>`` we made (the path rebuilt here from plain
    names, never taken whole from the request; never through a symlink), then its run's
    folder if empty."""
    run, name = _plain(req["run"], "run folder"), _plain(req["name"], "server folder")
    if req.get("table"):
        remove_table(req["table"])
    try:
        parent = secure_dir(os.path.join(_base(req["base"]), run), False)
    except Refused as exc:
        if exc.why != "does not exist":
            raise
        return {"ok": True, "dir": exc.path, "gone": True}
    folder = os.path.join(parent, name)
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return {"ok": True, "dir": folder, "gone": True}
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise Refused(folder, "is not a folder of yours: not removed")
    shutil.rmtree(folder)
    try:
        os.rmdir(os.path.dirname(folder))
    except OSError:
        pass  # other servers' folders (shared home) or not ours to remove
    return {"ok": True, "dir": folder}


def handle(req):
    """One request -> one answer; refusals and OS errors become ``ok: false``."""
    try:
        if req.get("op") == "make":
            return make(req)
        if req.get("op") == "remove":
            return remove(req)
        return {"ok": False, "path": "", "why": "unknown request {!r}".format(req.get("op"))}
    except Refused as exc:
        return {"ok": False, "path": exc.path, "why": exc.why}
    except OSError as exc:
        return {"ok": False, "path": exc.filename or "", "why": exc.strerror or str(exc)}
    except (KeyError, TypeError, ValueError) as exc:
        return {"ok": False, "path": "", "why": f"bad request: {exc}"}


def main():
    try:
        req = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    except ValueError as exc:
        req = {"op": "bad", "error": str(exc)}
    answer = handle(req) if isinstance(req, dict) else {"ok": False, "path": "", "why": "bad request"}
    sys.stdout.write(f"\n{MARK} {json.dumps(answer)}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

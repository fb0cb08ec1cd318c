"""Cluster Console host agent, part 1 of 3: the run's guards on this server.

STDLIB ONLY, Python >= 3.6 (sent with ``hostagent_base.py`` and ``hostagent.py`` as one
program, see ``console.ops.agentlink.agent_source``).

* ``Guard.check_files``: the sha256 of every uploaded file (rank table, uploads), checked
  again when the ranks reach the barrier and right before they are released; a mismatch
  refuses GO, naming the file.
* ``Guard.end_marked``: every process of this user (real, effective and saved uid all the
  agent's: a set-uid program started with the markers is not ours) whose environment
  carries this run's markers (``CLUSTER_CONSOLE_RUN=<run id>`` and ``CLUSTER_CONSOLE_SERVER=<server_id>``, set
  on every rank) gets a signal, so a rank's ``setsid daemon &`` does not outlive the job.
  The same code (``SWEEP``) runs in the watchdog when the agent itself dies. Each process is
  held by a ``/proc/<pid>`` folder fd (its status and environ are read through it) and a
  pidfd (Python >= 3.9, Linux >= 5.3; else the PID, after checking its start time again),
  so a PID reused meanwhile is never signalled.
* ``Guard.remove_dir``: the run folder is removed at the end (unless kept).
* ``read_spec``: the job spec line, or an ``error`` frame and exit 3 if it is not one.
"""

import json
import os
import shutil
import stat
import sys
import time

#: Shared with the watchdog program (``hostagent_base.WATCHDOG``), which is a separate
#: ``python -c`` process: hence source text, run once here with ``exec``.
SWEEP = r'''
import os
import signal as _signal


def _read_at(dirfd, name, limit):
    fd = os.open(name, os.O_RDONLY, dir_fd=dirfd)
    try:
        data = b""
        while len(data) < limit:
            chunk = os.read(fd, min(65536, limit - len(data)))
            if not chunk:
                break
            data += chunk
        return data
    finally:
        os.close(fd)


def _start_time(dirfd):
    # field 22 of stat; the command name (field 2) may hold spaces and ')'
    data = _read_at(dirfd, "stat", 4096)
    return data[data.rindex(b")") + 2:].split()[19]


def _uids(dirfd):
    # real, effective, saved set-user-ID (the "Uid:" line of status)
    for line in _read_at(dirfd, "status", 65536).split(b"\n"):
        if line.startswith(b"Uid:"):
            return [int(x) for x in line.split()[1:4]]
    return None


class _Proc(object):
    # a process held by a /proc/<pid> folder fd (reads fail once it is gone, even if the
    # PID is reused) and, where the kernel has them, a pidfd (signals cannot hit a reuser)
    def __init__(self, pid):
        self.pid = pid
        self.pidfd = None
        self.dirfd = os.open("/proc/{}".format(pid), os.O_RDONLY | os.O_DIRECTORY)
        try:
            self.start = _start_time(self.dirfd)
            if hasattr(os, "pidfd_open") and hasattr(_signal, "pidfd_send_signal"):
                try:
                    self.pidfd = os.pidfd_open(pid)
                except OSError:
                    self.pidfd = None  # ENOSYS (Linux < 5.3): the PID fallback
            if _start_time(self.dirfd) != self.start:
                raise OSError("process {} changed".format(pid))
        except BaseException:
            self.close()
            raise

    def same(self):
        try:
            return _start_time(self.dirfd) == self.start
        except (OSError, ValueError, IndexError):
            return False

    def signal(self, sig):
        try:
            if self.pidfd is not None:
                _signal.pidfd_send_signal(self.pidfd, sig)
            elif self.same():
                os.kill(self.pid, sig)
        except OSError:
            pass

    def close(self):
        for fd in (self.pidfd, self.dirfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.pidfd = self.dirfd = None


def _may_be_marked(name, needles):
    # the cheap first look, by path (one open, read, close): a process whose environment
    # lacks a marker (nearly all of them) costs no more; a candidate is held and checked
    # again below through its /proc folder fd. On a machine running many servers' agents
    # (the simulator) every agent sees every process, so this is what a sweep costs
    try:
        fd = os.open("/proc/{}/environ".format(name), os.O_RDONLY)
    except OSError:
        return False
    try:
        data = b""
        while len(data) < (8 << 20):
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        return False
    finally:
        os.close(fd)
    env = b"\0" + data + b"\0"
    return all(n in env for n in needles)


def marked_procs(markers, skip=(), groups=()):
    """Processes (``_Proc``, to be closed) of this user (real, effective AND saved uid all
    the agent's) whose environment holds every KEY=VALUE of markers, except ``skip`` and the
    members of process groups ``groups`` (signalled as groups)."""
    if not markers:
        return []
    uid = os.geteuid()
    needles = [b"\0" + "{}={}".format(k, v).encode("utf-8", "surrogateescape") + b"\0"
               for k, v in markers]
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit() or int(name) in skip or not _may_be_marked(name, needles):
            continue
        try:
            proc = _Proc(int(name))
        except (OSError, ValueError, IndexError):
            continue
        keep = False
        try:
            if _uids(proc.dirfd) == [uid, uid, uid]:
                env = b"\0" + _read_at(proc.dirfd, "environ", 8 << 20) + b"\0"
                keep = (all(n in env for n in needles) and os.getpgid(proc.pid) not in groups
                        and proc.same())
        except (OSError, ValueError):
            keep = False
        if keep:
            found.append(proc)
        else:
            proc.close()
    return found


def marked_pids(markers, skip=(), groups=()):
    """PIDs of the processes ``marked_procs`` finds."""
    procs = marked_procs(markers, skip, groups)
    for proc in procs:
        proc.close()
    return [proc.pid for proc in procs]


def sweep(markers, sig, skip=(), groups=()):
    """Send ``sig`` to every marked process (see marked_procs), through its pidfd where
    the kernel has them; returns their PIDs."""
    procs = marked_procs(markers, skip, groups)
    for proc in procs:
        proc.signal(sig)
        proc.close()
    return [proc.pid for proc in procs]
'''

_SWEEP_NS = {}  # type: dict
exec(SWEEP, _SWEEP_NS)
marked_pids = _SWEEP_NS["marked_pids"]
sweep = _SWEEP_NS["sweep"]


if __package__:  # imported (tests, tools); on a server filehash_remote.py precedes this text
    from console.ops.filehash_remote import file_sha256


class Guard:
    def __init__(self, spec):
        self.files = dict(spec.get("files") or {})
        self.markers = [tuple(m) for m in spec.get("markers") or ()]
        self.run_dir = spec.get("run_dir") or ""
        self.keep = bool(spec.get("keep"))
        self.remove_files = [str(f) for f in spec.get("remove_files") or ()]
        self.skip = set()

    def check_files(self):
        """None when every uploaded file still has its sha256, else what changed."""
        for path, want in sorted(self.files.items()):
            try:
                got = file_sha256(path)
            except OSError as exc:
                return f"{path}: cannot be read ({exc.strerror or exc})"
            if got != want:
                return f"{path}: sha256 {got} is not the uploaded {want} (changed after the upload)"
        return None

    def end_marked(self, sig, groups=()):
        """Signal every marked process but those in ``groups`` (the ranks' process groups,
        signalled as groups: a rank must not get its INT or TERM twice)."""
        return sweep(self.markers, sig, self.skip | {os.getpid()}, set(groups))

    def finish(self, grace):
        """TERM every marked process left, wait up to ``grace`` s, then KILL; returns how
        many there were."""
        pids = self.end_marked(15)
        found = len(pids)
        end = time.time() + grace
        while pids and time.time() < end:
            time.sleep(0.05)
            pids = marked_pids(self.markers, self.skip | {os.getpid()})
        if pids:
            self.end_marked(9)
        return found

    def remove_dir(self, files=True):
        """Remove the run folder (never through a symlink) and, with ``files``, ``remove_files``
        (the explicit rank table the launch created: a regular file of ours only); returns an
        error text or None."""
        if self.keep:
            return None
        problem = self._remove_files() if files else None
        return self._remove_run_dir() or problem

    def _remove_files(self):
        for path in self.remove_files:
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                    return f"{path} is not a regular file of ours: not removed"
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                return f"cannot remove {path}: {exc.strerror or exc}"
        return None

    def _remove_run_dir(self):
        if not self.run_dir:
            return None
        try:
            st = os.lstat(self.run_dir)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"cannot check {self.run_dir}: {exc.strerror or exc}"
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            return f"{self.run_dir} is not a folder of ours: not removed"
        try:
            shutil.rmtree(self.run_dir)
        except OSError as exc:
            return f"cannot remove {self.run_dir}: {exc.strerror or exc}"
        try:
            os.rmdir(os.path.dirname(self.run_dir))  # the run's folder, once empty
        except OSError:
            pass
        return None


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_spec():
    buf = b""
    while b"\n" not in buf:
        chunk = os.read(0, 65536)
        if not chunk:
            sys.exit(3)
        buf += chunk
    line, rest = buf.split(b"\n", 1)
    try:
        spec = json.loads(line.decode("utf-8"))
    except ValueError:
        spec = None
    if not (isinstance(spec, dict) and spec.get("t") == "spec" and isinstance(spec.get("ranks"), list)):
        frame = {"t": "error", "msg": f"the first line is not a job spec: {line[:80]!r}"}
        os.write(1, (json.dumps(frame) + "\n").encode("ascii"))
        sys.exit(3)
    return spec, rest

"""Cluster Console host agent, part 2 of 3: output framing, rank state, orphan guards.

STDLIB ONLY, Python >= 3.6. ``console.ops.agentlink.agent_source()`` sends this file and
then ``hostagent.py`` as ONE program over the channel (nothing is installed on the server),
so ``hostagent.py`` uses these names directly.

Orphan guards, for when the agent itself dies without cleaning up (SIGKILL, OOM killer):

* ``deathsig_preexec``: on Linux every rank's first process gets PR_SET_PDEATHSIG=SIGKILL
  (``prctl`` through ctypes), so the kernel kills it when the agent dies. It covers that
  process only (kept across ``exec``), not what it forks.
* ``Watchdog``: a tiny separate process (own session, stdin a pipe from the agent) that
  learns every rank's process group. When its stdin reaches EOF without a final ``ok`` (the
  agent is gone), it kills those groups and every process carrying the run's markers
  (``hostagent_guard.SWEEP``): SIGTERM, grace period, SIGKILL; then it removes the run folder
  and the explicit rank table the launch created (unless kept). Its settings (grace,
  markers, run folder) are the first line on its stdin, not in its argv: a process's
  command line is readable by every local user.
"""

import json
import os
import signal
import subprocess
import sys

if __package__:  # imported (tests, tools); on a server part 1 precedes this text
    from console.ops.hostagent_guard import SWEEP

WATCHDOG = (
    SWEEP
    + """
import json,shutil,signal,stat,sys,time
signal.signal(signal.SIGHUP,signal.SIG_IGN)
signal.signal(signal.SIGINT,signal.SIG_IGN)
cfg=None
groups=set()
buf=b""
while True:
    d=os.read(0,4096)
    if not d:break
    buf+=d
    *lines,buf=buf.split(b"\\n")
    for l in lines:
        if cfg is None:
            cfg=json.loads(l.decode("utf-8"));continue
        if l==b"ok":os._exit(0)
        if l[:1]==b"+":groups.add(int(l[1:]))
        if l[:1]==b"-":groups.discard(int(l[1:]))
if cfg is None:sys.exit(0)
grace=float(cfg["grace"])
markers=[tuple(m) for m in cfg.get("markers") or ()]
run_dir=cfg.get("run_dir") or ""
def send(s):
    for g in list(groups):
        try:os.killpg(g,s)
        except OSError:groups.discard(g)
send(signal.SIGTERM)
left=sweep(markers,signal.SIGTERM,{os.getpid()},set(groups))
end=time.time()+grace
while (groups or left) and time.time()<end:
    time.sleep(0.05)
    send(0)
    left=marked_pids(markers,{os.getpid()},set(groups))
send(signal.SIGKILL)
sweep(markers,signal.SIGKILL,{os.getpid()})
for f in cfg.get("remove_files") or ():
    try:
        st=os.lstat(f)
        if stat.S_ISREG(st.st_mode) and st.st_uid==os.geteuid():os.unlink(f)
    except OSError:
        pass
if run_dir:
    try:
        st=os.lstat(run_dir)
        if stat.S_ISDIR(st.st_mode) and st.st_uid==os.geteuid():
            shutil.rmtree(run_dir,ignore_errors=True)
            os.rmdir(os.path.dirname(run_dir))
    except OSError:
        pass"""
)


def nonblock(fd):
    os.set_blocking(fd, False)


def deathsig_preexec(parent_pid):
    """A ``preexec_fn`` setting PR_SET_PDEATHSIG=SIGKILL (Linux), or None where unavailable."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None

    def preexec():
        prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent_pid:  # the agent died before prctl took effect
            os._exit(137)

    return preexec


class Watchdog:
    """The separate killer process; a no-op if it cannot be started."""

    def __init__(self, grace, markers=(), run_dir="", remove_files=()):
        self.proc = None
        try:
            # what it needs goes on stdin, never in its argv (readable by every local user)
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-c", WATCHDOG],  # -S: stdlib only, no site start-up
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,
            )
        except OSError:
            self.proc = None
        self.tell(
            json.dumps(
                {"grace": grace, "markers": list(markers), "run_dir": run_dir, "remove_files": list(remove_files)},
                ensure_ascii=True,
            )
        )

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def tell(self, line):
        stdin = self.proc.stdin if self.proc is not None else None
        if stdin is None:
            return
        try:
            stdin.write(line.encode("ascii") + b"\n")
            stdin.flush()
        except OSError:
            self.proc = None

    def done(self):
        """Clean end: the watchdog exits without killing anything."""
        self.tell("ok")
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass


class ReleasePriority:
    """Real-time priority (SCHED_FIFO, the lowest RT level) for the two moments that must not
    wait for a busy server's scheduler, where the kernel allows it (root, CAP_SYS_NICE or an
    RLIMIT_RTPRIO): from GO to the release (the agent sleeps until the moment, then releases
    the ranks when its timer fires), and from a stop until every rank's exit is reported or
    the stop reaches KILL (the signals go out, the exits are reported when they happen). The agent sleeps most of both;
    it is given back right after each (the clean-up after a stop runs as a normal process),
    never inherited (SCHED_RESET_ON_FORK: ranks forked at the release start as normal
    processes). Refused = no change."""

    def __init__(self, enabled=True):
        self.enabled = bool(enabled) and hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_FIFO")
        self.held = False

    def take(self):
        """True if the agent now runs at real-time priority."""
        if self.enabled and not self.held:
            try:
                policy = os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0)
                os.sched_setscheduler(0, policy, os.sched_param(1))
                self.held = True
            except (OSError, AttributeError):
                self.enabled = False  # not allowed here: don't ask again
        return self.held

    def give_back(self):
        if self.held:
            self.held = False
            try:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))  # niceness is kept
            except OSError:
                pass


class Out:
    """Frames to stdout, batched per loop turn; a dead console is remembered, not fatal."""

    def __init__(self):
        self.buf = []
        self.dead = False

    def emit(self, **frame):
        self.buf.append(json.dumps(frame, ensure_ascii=True, separators=(",", ":")))

    def flush(self):
        if not self.buf:
            return
        data = ("\n".join(self.buf) + "\n").encode("ascii")
        self.buf = []
        if self.dead:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(1, view) :]
        except OSError:
            self.dead = True


class Rank:
    def __init__(self, spec):
        self.n = spec["rank"]
        self.spec = spec
        self.proc = None
        self.streams = {}  # fd -> [stream letter, pending bytes, file object]
        self.code = None
        self.sig = None
        self.reaped_at = None
        self.reported = False
        self.setup_done = False

    @property
    def alive(self):
        return self.proc is not None and self.code is None

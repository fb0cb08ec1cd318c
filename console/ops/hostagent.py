"""Cluster Console host agent, part 3 of 3: runs ON a server, one per server per launch.

STDLIB ONLY, Python >= 3.6. The console sends ``filehash_remote.py``, ``hostagent_guard.py``, ``hostagent_base.py``
and this file as one program over one SSH channel (``agentlink.agent_source``); nothing is installed on the
server. Wire protocol on the channel:

  console -> agent (stdin):  <len>\\n<source bytes>   (read by the bootstrap, see BOOTSTRAP)
                             {"t":"spec", ...}\\n       (this server's ranks, JSON, one line)
                             {"t":"ping","c":T} | {"t":"go","at":T}
                             | {"t":"stop","reason":..[,"sig":"INT"|"TERM"|"KILL"]}
                             | {"t":"hb"}   (lines)
  agent -> console (stdout): JSON lines: hello, pong, spawned, ready, go, started, woke, line,
                             exit, stopping, refused, swept, cleaned, bye.  A line frame is
                             {"t":"line","rank":r,"s":"o"|"e","x":text[,"p":1]}
                             where text is the rank's line without its newline (bytes that
                             are not UTF-8 travel as surrogate escapes; "p":1 = a piece of an
                             over-long line, continued by the next frame).

Clock: ``pong`` answers ``ping`` with the agent's time.time() ("a"), so the console can
estimate this server's clock offset. ``go`` carries ``at``, a release moment in THIS
server's clock, slightly in the future: the agent waits for it, then releases every rank at
once. A rank's start time (``started.ts``) is that release moment; ``woke`` is when the
rank's shell itself came out of the barrier (its own clock reading).

Barrier ("hold", default): every rank is spawned at once in its own session/process group,
runs its setup lines, reports "R" on a shared pipe and blocks in bash's builtin ``read`` on a
second shared pipe. The release closes that pipe's only write end: every rank wakes up on the
same syscall and ``exec``s its command. "spawn" mode instead forks the ranks at release.

Teardown: on STOP, stdin EOF (console died or the channel was cut), a missed heartbeat or
SIGTERM/SIGHUP/SIGINT, every rank's process group gets SIGTERM, then SIGKILL after the grace
period. A STOP with "sig":"INT" (the user's Ctrl-C) starts one step earlier: SIGINT (so
``except KeyboardInterrupt:`` cleanup runs, as under torchrun), TERM after the grace
period, then KILL; a later STOP with a stronger signal skips ahead (``STOP_STEPS``). Every
other process carrying the run's markers (``hostagent_guard``) gets the same signals (TERM
once the ranks' exits are reported: finding them is a look at every process of the machine,
which must not hold up the exit reports), and once more at the end (``swept``). A rank
whose main process exits gets its leftover group killed the same way. If the agent is killed
outright, PR_SET_PDEATHSIG and the watchdog (hostagent_base) end the ranks. Then the run
folder is removed (``cleaned``) unless kept.

Uploaded files: their sha256 is checked when the ranks reach the barrier and when GO arrives
(before the release moment, so that the release itself does no file work); a mismatch refuses
GO (``refused``, naming the file) and stops the ranks.
Input that is not a JSON object of a known type is answered with an ``error`` frame and
otherwise ignored.
"""

import json
import os
import selectors
import signal
import subprocess
import sys
import time

if __package__:  # imported (tests, tools); on a server parts 1 and 2 precede this text
    from console.ops.hostagent_base import (
        Out,
        Rank,
        ReleasePriority,
        Watchdog,
        deathsig_preexec,
        nonblock,
    )
    from console.ops.hostagent_guard import Guard, _number, read_spec

MAX_CHUNK = 256 * 1024
STOP_STEPS = ("INT", "TERM", "KILL")
READ_SIZE = 65536


class Agent:
    def __init__(self, spec, inbuf):
        self.spec = spec
        self.out = Out()
        self.sel = selectors.DefaultSelector()
        self.ranks = [Rank(r) for r in spec["ranks"]]
        self.by_n = {r.n: r for r in self.ranks}
        self.hold = spec.get("barrier", "hold") == "hold"
        self.grace = float(spec.get("grace_s", 5.0))
        self.hb = float(spec.get("heartbeat_s", 0) or 0)
        self.state = "setup"
        self.escalate_at = None  # when the next, stronger signal goes to the ranks
        self.sweep_due = None  # a TERM for the marked processes, sent once the ranks reported
        self.stop_step = None  # index in STOP_STEPS of the last signal sent
        self.inbuf = inbuf
        self.last_in = time.time()
        self.signalled = None
        self.go_w = self.ctl_r = None
        self.ctl_buf = b""
        self.release_at = None
        self.priority = ReleasePriority(spec.get("release_rt", True))
        self.preexec = deathsig_preexec(os.getpid())
        self.guard = Guard(spec)
        self.console_gone = False
        """The console left (stdin closed, heartbeats stopped): this agent cleans up alone."""
        self.watchdog = Watchdog(
            self.grace,
            self.guard.markers,
            "" if self.guard.keep else self.guard.run_dir,
            () if self.guard.keep else self.guard.remove_files,
        )
        if self.watchdog.pid:
            self.guard.skip.add(self.watchdog.pid)
        self._signals()
        self.sel.register(0, selectors.EVENT_READ, ("stdin",))

    def _signals(self):
        wake_r, wake_w = os.pipe()
        nonblock(wake_r)
        nonblock(wake_w)
        signal.set_wakeup_fd(wake_w)
        self.sel.register(wake_r, selectors.EVENT_READ, ("wake",))
        signal.signal(signal.SIGCHLD, lambda *a: None)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def _on_signal(self, signum, frame):
        self.signalled = signal.Signals(signum).name

    # --- spawning -------------------------------------------------------------------------

    def script(self, rank, go_fd=None, ctl_fd=None):
        parts = [self.spec["prelude"]] if self.spec.get("prelude") else []
        if go_fd is not None:
            n = rank.n
            parts.append(f"printf 'R %s\\n' {n} >&{ctl_fd}")
            parts.append(f"read -r _ <&{go_fd}")
            parts.append(f"printf 'W %s %s\\n' {n} \"$EPOCHREALTIME\" >&{ctl_fd}")
            parts.append(f"exec {go_fd}<&- {ctl_fd}>&-")
        cmd = rank.spec["command"]
        parts.append("exec " + cmd if self.spec.get("exec_command") else cmd)
        return "\n".join(parts)

    def spawn(self, rank, pass_fds=()):
        env = dict(os.environ)
        env.update(rank.spec["env"])
        go_fd, ctl_fd = pass_fds if pass_fds else (None, None)
        argv = [self.spec.get("shell", "bash"), "-c", self.script(rank, go_fd, ctl_fd)]
        try:
            rank.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
                pass_fds=pass_fds,
                close_fds=True,
                preexec_fn=self.preexec,
            )
        except OSError as exc:
            self.out.emit(t="line", rank=rank.n, s="e", x=f"cluster-console agent: cannot start rank: {exc}")
            rank.code, rank.reaped_at = 127, time.time()
            return
        for stream, fobj in (("o", rank.proc.stdout), ("e", rank.proc.stderr)):
            fd = fobj.fileno()
            nonblock(fd)
            rank.streams[fd] = [stream, b"", fobj]
            self.sel.register(fd, selectors.EVENT_READ, ("rank", rank))
        self.watchdog.tell(f"+{rank.proc.pid}")
        self.out.emit(t="spawned", rank=rank.n, pid=rank.proc.pid)

    def spawn_held(self):
        go_r, self.go_w = os.pipe()
        self.ctl_r, ctl_w = os.pipe()
        for rank in self.ranks:
            self.spawn(rank, (go_r, ctl_w))
        os.close(go_r)
        os.close(ctl_w)
        nonblock(self.ctl_r)
        self.sel.register(self.ctl_r, selectors.EVENT_READ, ("ctl",))

    def go(self, at=None):
        """GO: release the ranks at ``at`` (this server's clock), or now if it has passed."""
        if self.state != "ready":
            return
        self.state = "running"
        ts = time.time()
        late = ts - at if at is not None and at < ts else 0.0
        self.out.emit(t="go", ts=ts, at=at, late=round(late, 6))
        # the files' last check is now, while waiting for the release moment: at that moment
        # only the release itself runs (a sha256 of every upload there would delay it by the
        # uploads' size, differently on every server)
        if not self.files_ok():
            return
        self.release_at = at if at is not None and at > ts else ts
        if self.release_at > ts:
            self.priority.take()
        self.release_due()

    def release_due(self):
        if self.release_at is None or time.time() < self.release_at:
            return
        self.release_at = None
        ts = time.time()
        if self.hold and self.go_w is not None:
            os.close(self.go_w)  # every held rank wakes up on this one syscall
            self.go_w = None
        for rank in self.ranks:
            if not self.hold:
                self.spawn(rank)
            if rank.alive and rank.proc is not None:
                extra = {"rt": 1} if self.priority.held else {}
                self.out.emit(t="started", rank=rank.n, ts=ts, pid=rank.proc.pid, **extra)
        self.priority.give_back()

    # --- reading --------------------------------------------------------------------------

    def on_ctl(self):
        if self.ctl_r is None:
            return
        try:
            data = os.read(self.ctl_r, READ_SIZE)
        except BlockingIOError:
            return
        if not data:
            self.sel.unregister(self.ctl_r)
            os.close(self.ctl_r)
            return
        self.ctl_buf += data
        *lines, self.ctl_buf = self.ctl_buf.split(b"\n")
        for line in lines:
            parts = line.decode("ascii", "replace").split(" ")
            rank = self.by_n.get(int(parts[1])) if len(parts) > 1 and parts[1].isdigit() else None
            if rank is None:
                continue  # not ours (a setup line wrote to the pipe): ignored
            if parts[0] == "R":
                rank.setup_done = True
            elif parts[0] == "W":
                stamp = parts[2].replace(",", ".") if len(parts) > 2 and parts[2] else ""
                self.out.emit(t="woke", rank=rank.n, ts=float(stamp) if stamp else time.time())
        self.check_ready()

    def check_ready(self):
        if self.state == "setup" and all(r.setup_done and r.alive for r in self.ranks):
            if not self.files_ok():
                return
            self.state = "ready"
            self.out.emit(t="ready", ts=time.time())

    def files_ok(self):
        """The uploaded files are unchanged; else GO is refused and the ranks stopped."""
        problem = self.guard.check_files()
        if problem is None:
            return True
        self.out.emit(t="refused", msg="GO refused: " + problem, ts=time.time())
        self.stop("GO refused: " + problem)
        return False

    def on_rank(self, fd, rank):
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        entry = rank.streams[fd]
        if not data:
            self.close_stream(rank, fd)
            return
        lines = (entry[1] + data).split(b"\n")
        entry[1] = lines.pop()
        for line in lines:
            self.line(rank, entry[0], line)
        while len(entry[1]) >= MAX_CHUNK:
            self.line(rank, entry[0], entry[1][:MAX_CHUNK], partial=True)
            entry[1] = entry[1][MAX_CHUNK:]

    def line(self, rank, stream, raw, partial=False):
        text = raw.decode("utf-8", "surrogateescape")
        if partial:
            self.out.emit(t="line", rank=rank.n, s=stream, x=text, p=1)
        else:
            self.out.emit(t="line", rank=rank.n, s=stream, x=text)

    def close_stream(self, rank, fd):
        stream, rest, fobj = rank.streams.pop(fd)
        if rest:
            self.line(rank, stream, rest)
        self.sel.unregister(fd)
        fobj.close()

    def on_stdin(self):
        try:
            data = os.read(0, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(0)
            self.console_gone = True
            self.stop("console gone (stdin closed)")
            return
        self.last_in = time.time()
        self.inbuf += data
        *lines, self.inbuf = self.inbuf.split(b"\n")
        for line in lines:
            self.command(line)

    def input_waiting(self):
        """Read what the console sent while this turn of the loop was busy (a slow fork at the
        release): True if anything came. The loop's select ran before it, so heartbeats that
        arrived meanwhile are not in its answer, and the agent is not to stop its ranks for
        heartbeats it has not read yet."""
        if self.console_gone:
            return False
        before = self.last_in
        self.on_stdin()
        return self.last_in != before

    def command(self, line):
        if not line.strip():
            return
        try:
            msg = json.loads(line.decode("utf-8"))
        except ValueError:
            msg = None
        kind = msg.get("t") if isinstance(msg, dict) else None
        at = msg.get("at") if kind == "go" else None
        if kind == "go" and (at is None or _number(at)):
            self.go(at)
        elif kind == "ping" and _number(msg.get("c")):
            self.out.emit(t="pong", c=msg["c"], a=time.time())
        elif kind == "stop":
            reason, sig = msg.get("reason"), msg.get("sig")
            self.stop(
                reason if isinstance(reason, str) and reason else "stop requested", sig if sig in STOP_STEPS else "TERM"
            )
        elif kind != "hb":
            self.out.emit(t="error", msg=f"ignored a line from the console that is not a known command: {line[:80]!r}")

    # --- ending ---------------------------------------------------------------------------

    def killpg(self, rank, sig):
        if rank.proc is None:
            return
        try:
            os.killpg(rank.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, reason, sig="TERM"):
        """Stop every rank, starting with ``sig`` (INT, TERM or KILL); a stop while stopping
        only ever makes the signal stronger."""
        step = STOP_STEPS.index(sig) if sig in STOP_STEPS else 1
        if self.state == "stopping" and self.stop_step is not None and step <= self.stop_step:
            return
        self.state = "stopping"
        self.release_at = None
        # a stop, too, is handled at real-time priority where allowed (see ReleasePriority):
        # the signals go out and the exits are reported when they happen; given back once
        # they are (the clean-up after that runs as a normal process)
        self.priority.take()
        self.out.emit(t="stopping", reason=reason, sig=STOP_STEPS[step], ts=time.time())
        self.signal_ranks(step)

    def signal_ranks(self, step):
        """Send STOP_STEPS[step] to every rank not yet reported; schedule the next step.

        The other marked processes get the same signal (``Guard.end_marked``: a look at every
        process of the machine). For TERM, the usual teardown, that look comes after the
        ranks' exits are reported (``sweep_marked``), so the exit reports are not held up by
        it: right before ``Guard.finish`` (TERM, grace, KILL), or at the next step."""
        self.stop_step = step
        sig = getattr(signal, "SIG" + STOP_STEPS[step])
        if STOP_STEPS[step] == "KILL":
            # past the grace period nothing is prompt any more, and a rank that KILL cannot end
            # (a process stuck in the kernel: a hung device) would keep the agent's repeated
            # KILLs and sweeps at real-time priority for as long as it stays stuck
            self.priority.give_back()
        for rank in self.ranks:
            if not rank.reported:
                self.killpg(rank, sig)
        if STOP_STEPS[step] == "TERM" and any(not r.reported and r.proc is not None for r in self.ranks):
            self.sweep_due = sig
        else:
            self.sweep_due = None
            self.guard.end_marked(sig, self.rank_groups())
        # KILL is repeated (a process forked meanwhile), the others escalate after the grace
        self.escalate_at = time.time() + (self.grace if step < 2 else 0.25)

    def rank_groups(self):
        return {r.proc.pid for r in self.ranks if r.proc is not None}

    def sweep_marked(self):
        """The marked processes' TERM left for after the exit reports (see signal_ranks)."""
        if self.sweep_due is not None:
            sig, self.sweep_due = self.sweep_due, None
            self.guard.end_marked(sig, self.rank_groups())

    def reap(self):
        for rank in self.ranks:
            if not rank.alive or rank.proc is None:
                continue
            rc = rank.proc.poll()
            if rc is None:
                continue
            rank.code, rank.sig = (rc, None) if rc >= 0 else (128 - rc, -rc)
            rank.reaped_at = time.time()
            self.killpg(rank, signal.SIGTERM)  # leftovers of a finished rank go too

    def housekeeping(self):
        now = time.time()
        if self.signalled:
            self.stop("agent got " + self.signalled)
            self.signalled = None
        if self.hb and now - self.last_in > self.hb and self.state != "stopping" and not self.input_waiting():
            self.console_gone = True
            self.stop(f"no heartbeat from the console for {self.hb:.0f} s")
        if self.escalate_at is not None and now >= self.escalate_at:
            self.sweep_marked()  # still due: the marked processes get TERM before the KILL
            self.signal_ranks(min((self.stop_step or 0) + 1, 2))
        for rank in self.ranks:
            if rank.code is None or rank.reported or rank.reaped_at is None:
                continue
            if rank.streams and now > rank.reaped_at + self.grace:
                self.killpg(rank, signal.SIGKILL)
            if rank.streams and now > rank.reaped_at + self.grace + 2.0:
                for fd in list(rank.streams):  # an escaped process holds the pipe: stop reading
                    self.close_stream(rank, fd)
            if not rank.streams:
                self.report(rank)

    def report(self, rank):
        rank.reported = True
        if rank.proc is not None:
            self.watchdog.tell(f"-{rank.proc.pid}")
        frame = {"t": "exit", "rank": rank.n, "code": rank.code, "ts": rank.reaped_at}
        if rank.sig:
            frame["sig"] = rank.sig
        self.out.emit(**frame)
        self.killpg(rank, signal.SIGKILL)

    def timeout(self):
        pending = [0.25]
        if self.escalate_at is not None:
            pending.append(self.escalate_at - time.time())
        if self.release_at is not None:
            pending.append(self.release_at - time.time())
        return max(0.0, min(pending))

    def run(self):
        self.out.emit(
            t="hello",
            pid=os.getpid(),
            host=os.uname()[1],
            ts=time.time(),
            python=sys.version.split()[0],
            watchdog=self.watchdog.pid,
            deathsig=self.preexec is not None,
        )
        if self.hold:
            self.spawn_held()
        elif self.files_ok():
            self.state = "ready"
            self.out.emit(t="ready", ts=time.time())
        self.out.flush()
        *lines, self.inbuf = self.inbuf.split(b"\n")
        for line in lines:
            self.command(line)
        while True:
            ready = self.sel.select(self.timeout())
            self.release_due()
            for key, _ in ready:
                kind = key.data[0]
                if kind == "stdin":
                    self.on_stdin()
                elif kind == "rank":
                    self.on_rank(key.fd, key.data[1])
                elif kind == "ctl":
                    self.on_ctl()
                else:
                    os.read(key.fd, 4096)
            self.reap()
            self.housekeeping()
            self.out.flush()
            if all(r.reported or r.proc is None for r in self.ranks):
                if self.ranks_over():
                    self.sweep_due = None  # Guard.finish sends that TERM now (then grace, KILL)
                    break
                self.sweep_marked()
        self.priority.give_back()  # the exits are reported (flushed above): clean up as a normal process
        self.out.emit(t="swept", n=self.guard.finish(self.grace), ts=time.time())
        self.out.flush()
        # The rank table the launch created is the console's to remove once EVERY server's
        # ranks are done (servers may share it: NFS homes; removing it when this server's ranks
        # ended took it from another server's ranks still starting); alone, remove it here.
        problem = self.guard.remove_dir(files=self.console_gone)
        if self.guard.run_dir and not self.guard.keep:
            self.out.emit(t="cleaned", dir=self.guard.run_dir, error=problem)
        self.watchdog.done()
        self.out.emit(t="bye", ts=time.time())
        self.out.flush()

    def ranks_over(self):
        if self.state == "stopping":
            return True
        return self.state == "running" and all(r.reported for r in self.ranks)


def main():
    spec, rest = read_spec()
    nonblock(0)
    Agent(spec, rest).run()
    # every frame is written (os.write, unbuffered) and the watchdog told: nothing is left for
    # the interpreter's own shutdown to do but free memory, which at a teardown of many agents
    # on one busy machine is CPU taken from agents still reporting their ranks' exits
    os._exit(0)


if __name__ == "__main__":
    main()

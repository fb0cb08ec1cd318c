"""Round 2's bound on hccn_tool calls: one watchdog per script instead of ``timeout`` per call.

The scripts run under the real /bin/sh (and bash when present) against stub hccn_tools."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from console.core.discovery.script import devices_script, split_sections

SHELLS = [s for s in ("/bin/sh", shutil.which("bash"), shutil.which("busybox")) if s]


def _argv(shell: str) -> list[str]:
    return [shell, "sh"] if shell.endswith("busybox") else [shell]


def _tool(tmp_path: Path, body: str, name: str = "hccn_tool") -> None:
    tool = tmp_path / name
    tool.write_text("#!/bin/sh\n" + body)
    tool.chmod(0o755)


def run_script(tmp_path: Path, shell: str = "/bin/sh", devices=(0, 1), tool_timeout: float = 1):
    script = devices_script("MK", list(devices), tool_timeout=tool_timeout)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [*_argv(shell), "-c", script], stdout=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    out, _ = proc.communicate(timeout=60)
    return split_sections(out, "MK"), proc.pid


def wait_gone(pgid: int, deadline_s: float = 10) -> bool:
    """True once no process of the group is left (zombies aside), polled up to a deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        live = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                if fields[2] == str(pgid) and fields[0] != "Z":
                    live.append(entry.name)
        if not live:
            return True
        time.sleep(0.05)  # polling interval, bounded by the deadline
    return False


@pytest.mark.parametrize("shell", SHELLS)
def test_hung_call_is_killed_and_only_its_device_skipped(tmp_path, shell):
    pidfile, outfile = tmp_path / "hung.pid", tmp_path / "out.path"
    _tool(
        tmp_path,
        f'o=$(readlink /proc/$$/fd/1); echo "$o" > {outfile}\n'
        f'if [ "$2" = 1 ] && [ "$3" = -link ]; then echo $$ > {pidfile}; exec sleep 60; fi\n'
        'echo "answer $*"\n',
    )
    secs, pgid = run_script(tmp_path, shell)
    assert secs["ip:1"].output == "answer -i 1 -ip -g\n" and secs["ip:1"].exit_status == 0
    assert secs["link:1"].exit_status == 124 and secs["link:1"].output == ""
    assert secs["tls:1"].exit_status == 124 and secs["tls:1"].output.startswith("skipped")
    assert secs["netdetect:0"].output == "answer -i 0 -netdetect -g\n"
    hung = int(pidfile.read_text())
    assert wait_gone(pgid), "the watchdog or the hung call outlived the script"
    assert not Path(f"/proc/{hung}").exists() or "Z" in Path(f"/proc/{hung}/stat").read_text()
    private = Path(outfile.read_text().strip()).parent  # where the calls' output went
    assert private.name.startswith(("ccdisc.", "tmp.")) and not private.exists()  # removed


@pytest.mark.parametrize("shell", SHELLS)
def test_outputs_and_statuses_come_through_unchanged(tmp_path, shell):
    text = "ipaddr:1.2.3.4\n  two  \\n back\\slash\n\n\nlast"  # no final newline
    (tmp_path / "ip.txt").write_text(text)
    _tool(
        tmp_path,
        'case "$3" in\n'
        f"  -ip) cat {tmp_path / 'ip.txt'};;\n"
        '  -link) echo "down" >&2; exit 3;;\n'
        "  -tls) ;;\n"
        '  *) echo "x $2";;\nesac\n',
    )
    secs, pgid = run_script(tmp_path, shell, devices=(0, 5))
    assert secs["ip:5"].output == text + "\n"
    assert (secs["link:0"].output, secs["link:0"].exit_status) == ("down\n", 3)
    assert (secs["tls:0"].output, secs["tls:0"].exit_status) == ("", 0)
    assert secs["gateway:5"].output == "x 5\n" and len(secs) == 14
    assert wait_gone(pgid)


def test_without_mktemp_each_call_falls_back_to_timeout(tmp_path):
    _tool(tmp_path, "exit 1\n", name="mktemp")
    _tool(tmp_path, 'if [ "$2" = 0 ]; then exec sleep 60; fi\necho ok\n')
    secs, pgid = run_script(tmp_path)
    assert secs["ip:0"].exit_status == 124 and "skipped" in secs["link:0"].output
    assert secs["ip:1"].output == "ok\n"
    assert wait_gone(pgid)


def test_zero_timeout_runs_unbounded_without_watchdog(tmp_path):
    _tool(tmp_path, 'echo "ok $2"\n')
    _tool(tmp_path, "exit 1\n", name="mktemp")  # would make it fall back to `timeout`
    _tool(tmp_path, "echo timeout used; exit 1\n", name="timeout")
    secs, _pgid = run_script(tmp_path, devices=(0,), tool_timeout=0)
    assert secs["ip:0"].output == "ok 0\n" and len(secs) == 7


def test_killed_script_takes_its_watchdog_along(tmp_path):
    started = tmp_path / "started"
    _tool(
        tmp_path, f'o=$(readlink /proc/$$/fd/1); echo "$o" > {started}.tmp; mv {started}.tmp {started}\nexec sleep 60\n'
    )
    script = devices_script("MK", [0], tool_timeout=30)
    proc = subprocess.Popen(
        ["/bin/sh", "-c", script],
        stdout=subprocess.DEVNULL,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", "TMPDIR": str(tmp_path)},
        start_new_session=True,
    )
    end = time.monotonic() + 20
    while not started.exists() and time.monotonic() < end:
        time.sleep(0.02)  # polling interval, bounded by the deadline
    assert started.exists()
    os.killpg(proc.pid, signal.SIGTERM)  # what the SSH server does when the channel closes
    assert proc.wait(timeout=20) != 0
    assert wait_gone(proc.pid)
    assert not Path(started.read_text().strip()).parent.exists()  # the EXIT trap ran


@pytest.mark.parametrize("shell", SHELLS)
def test_after_one_lldp_timeout_the_servers_other_devices_skip_lldp(tmp_path, shell):
    """Where LLDP is off ``-lldp -g`` may hang on every card: one timeout a server, not one
    per device (8 x tool_timeout); the other queries still run."""
    calls = tmp_path / "calls"
    _tool(tmp_path, f'echo "$*" >> {calls}\nif [ "$3" = -lldp ]; then exec sleep 60; fi\necho "answer $*"\n')
    secs, pgid = run_script(tmp_path, shell, devices=(0, 1, 2, 3))
    assert secs["lldp:0"].exit_status == 124 and secs["lldp:0"].output == ""
    for dev in (1, 2, 3):
        assert secs[f"lldp:{dev}"].exit_status == 124
        assert secs[f"lldp:{dev}"].output.startswith("skipped: hccn_tool -lldp timed out earlier on this server")
        assert secs[f"ip:{dev}"].output == f"answer -i {dev} -ip -g\n"
    assert [c for c in calls.read_text().splitlines() if "-lldp" in c] == ["-i 0 -lldp -g"]
    assert wait_gone(pgid)

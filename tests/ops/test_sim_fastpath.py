"""The fake tools' fast path: pre-rendered answers of static queries, served by POSIX sh
launchers, must be byte-identical (stdout, stderr, exit status) to the Python tools' answers,
and everything else must still reach the Python tools."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from console.sim import state
from console.sim.spec import ClusterSpec, ServerSpec

HCCN_QUERIES = [["-ip", "-g"], ["-ip", "-inet6", "-g"], ["-vnic", "-g"], ["-link", "-g"],
                ["-net_health", "-g"], ["-tls", "-g"], ["-gateway", "-g"], ["-netdetect", "-g"],
                ["-lldp", "-g"], ["-link_stat", "-g"]]
NPU_QUERIES = [["info"], ["info", "-l"], ["info", "-m"]]
INVALID_IDS = ["8", "9", "15", "16", "17", "42", "99", "08", "09"]


def static_queries(product: str) -> list[list[str]]:
    limit = 16 if product == "A3" else 8
    hccn = [["hccn_tool", "-i", str(n), *q] for n in range(limit) for q in HCCN_QUERIES]
    hccn += [["hccn_tool", "-i", n, *q] for n in INVALID_IDS if int(n) >= limit
             for q in (["-ip", "-g"], ["-x"])]
    return hccn + [["npu-smi", *q] for q in NPU_QUERIES]


def run_batch(root: Path, calls: list[list[str]], out: Path, *, python: bool) -> list[tuple]:
    """Run every call in ONE shell with an empty environment (the tools have their paths
    built in); each call's stdout+stderr bytes and exit status. ``python``: run the Python
    tools' own launchers instead of the sh ones."""
    tools = {"hccn_tool": root / state.HCCN_TOOL, "npu-smi": root / state.BIN_DIR / "npu-smi"}
    if python:
        tools = {"hccn_tool": root / state.PY_TOOLS / "hccn_tool.py",
                 "npu-smi": root / state.PY_TOOLS / "npu_smi.py"}
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"{shlex.quote(str(tools[c[0]]))} {shlex.join(c[1:])} >{out}/{i} 2>&1; echo $? >{out}/{i}.rc"
             for i, c in enumerate(calls)]
    subprocess.run(["/bin/sh", "-c", "\n".join(lines)], env={}, check=True, timeout=300)
    return [((out / str(i)).read_bytes(), int((out / f"{i}.rc").read_text()))
            for i in range(len(calls))]


def hide_python_tools(root: Path) -> None:
    """From now on a call that is not served from a file fails loudly."""
    for name in ("hccn_tool.py", "npu_smi.py"):
        (root / state.PY_TOOLS / name).rename(root / state.PY_TOOLS / f"{name}.hidden")


@pytest.mark.parametrize("spec", [
    ClusterSpec.default(),
    ClusterSpec.generate(servers=2, cards=4, product="A3", faults=[
        {"kind": "link_down", "server": 1, "device": 2}, {"kind": "tls", "server": 1}]),
], ids=["default", "a3"])
def test_every_static_query_is_served_from_a_file_with_the_python_bytes(spec, tmp_path) -> None:
    roots = state.write_cluster(spec, tmp_path / "sim")
    srv: ServerSpec = spec.servers[0]
    root = roots[srv.name]
    calls = static_queries(srv.product)
    expected = run_batch(root, calls, tmp_path / "py", python=True)
    hide_python_tools(root)
    got = run_batch(root, calls, tmp_path / "fast", python=False)
    for call, want, have in zip(calls, expected, got, strict=True):
        assert have == want, shlex.join(call)
    assert {rc for _, rc in got} == {0, 1}  # the failures (no gateway, invalid id) too
    assert any(b"ipaddr:" in text for text, _ in got)


def test_other_arguments_and_dynamic_faults_run_the_python_tool(tmp_path) -> None:
    spec = ClusterSpec.generate(servers=2, cards=2, faults=[
        {"kind": "busy", "server": 2, "calls": 1}])
    roots = state.write_cluster(spec, tmp_path / "sim")
    calls = [["hccn_tool", "-i", "0", "-ip", "-g", ""], ["hccn_tool", "-i", "00", "-ip", "-g"],
             ["hccn_tool", "-i", "0", "-ping", "-g", "address", "10.10.100.22"],
             ["hccn_tool", "-i", "0 -ip", "-g"], ["hccn_tool", "-i", "../0", "-ip", "-g"],
             ["hccn_tool", "-h"], ["npu-smi", "info", "-l", ""], ["npu-smi", "info", "-x"]]
    a, b = (roots[s.name] for s in spec.servers)
    expected = run_batch(a, calls, tmp_path / "py", python=True)
    assert run_batch(a, calls, tmp_path / "sh", python=False) == expected
    assert expected[2][0].startswith(b"device 0 PING 10.10.100.22\n") and expected[2][1] == 0
    # server 2 plays the busy fault: its first hccn_tool call says busy, however static
    assert not (b / state.ANSWERS / "hccn_tool").exists()
    first, second = run_batch(b, [["hccn_tool", "-i", "1", "-link", "-g"]] * 2, tmp_path / "b",
                              python=False)
    assert first == (b"hccn_tool is busy, please try again.\n", 1)
    assert second == (b"link status: UP\n", 0)
    hide_python_tools(a)
    assert run_batch(a, calls[:1], tmp_path / "hidden", python=False)[0][1] != 0


def test_rewriting_a_root_never_serves_the_previous_specs_answers(tmp_path) -> None:
    state.write_cluster(ClusterSpec.generate(servers=1, cards=2), tmp_path / "sim")
    spec = ClusterSpec.generate(servers=1, cards=2, faults=[
        {"kind": "link_down", "server": 1, "device": 1}])
    root = state.write_cluster(spec, tmp_path / "sim")[spec.servers[0].name]
    call = [["hccn_tool", "-i", "1", "-link", "-g"]]
    assert run_batch(root, call, tmp_path / "o", python=False) == [(b"link status: DOWN\n", 0)]

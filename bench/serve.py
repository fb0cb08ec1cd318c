"""Serving benchmark: from "launch" to the first answered request, per step, on the simulated
cluster (its own process: ``python3 -m console sim``), for vLLM-Ascend and MindIE Service.

For each cluster size (default 2 and 16 servers x 8 NPUs) and each serving profile, in the same
run:
  (i)  the console: ``cluster-console launch --profile vllm-ascend|mindie-service --smoke-prompt
       "What's Deep Learning?" --smoke-only --json [-- ccsim-model]``; each step is timed by when
       its JSON event reaches this process: start (the CLI's start-up, SSH connections and what
       it reads from the servers before the plan: host NICs, MindIE's config.json and weights;
       -> stage ``prepare``), upload (``prepare`` -> ``preflight``), barrier
       (``preflight`` -> ``go``: preflight, host agents, every server at the barrier), service
       ready (``go`` -> ``ready_service``; the last ``ready`` without it), first token (the
       console's own time to first token from its ``answer`` event, else ready -> answer),
       total (start -> answer);
  (ii) the baseline an operator writes by hand: a sequential ``scp -p`` loop of the rank table
       (and, for MindIE, each server's config.json) to every server, then one background
       ``ssh HOST 'env... vllm serve ...'`` per server (``&`` in a loop), wait until the ready
       line(s) come, then one streamed request with Python's http.client, straight to the
       service's port (the console goes through an SSH port forward). Its "barrier" is the time
       until every server's process printed its first line (nothing holds them), so the tools'
       own start-up falls in its barrier but in the console's ready step: ``to_ready`` (barrier
       + ready) is the comparable figure.
The figures are the console's beside the baseline's and the ratio; the target is a total within
1.5 x the hand-written loop (the console also runs its preflight checks, starts one host agent
per server and releases every server at one moment). When a serving profile is not in this
checkout yet, the console side says so and only the baseline runs.

    python3 bench/serve.py                              # 2 and 16 servers, both profiles
    python3 bench/serve.py --servers 2 --profile vllm-ascend
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import shlex
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from discovery import start_sim, stop_sim

from console.core.ranktable import build
from console.core.ranktable.text import dumps
from console.sim import serve_install
from console.sim.spec import ClusterSpec

ROOT = Path(__file__).resolve().parents[1]

PROMPT = "What's Deep Learning?"
MODEL = serve_install.MODEL_NAME
TARGET_RATIO = 1.5
READY_S = 300.0
READY = {"vllm-ascend": "Application startup complete.", "mindie-service": "Daemon start success!"}
STEPS = ("start", "upload", "barrier", "ready", "to_ready", "first_token", "total")


@dataclass
class Figures:
    steps: dict[str, float] = field(default_factory=dict)
    answer: str = ""
    note: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, servers: int, sim: Any, workdir: Path) -> None:
        self.spec = ClusterSpec.generate(servers=servers, cards=8)
        self.table = build(self.spec.inventory())
        self.sim, self.workdir = sim, workdir
        self.hosts = [s.address for s in self.spec.servers]
        self.ranktable = workdir / "rt.json"
        self.ranktable.write_text(dumps(self.table))
        self.ranktable.chmod(0o640)

    def ssh(self, host: str, command: str) -> list[str]:
        return ["ssh", "-F", str(self.sim.ssh_config), "-o", "BatchMode=yes", host, command]


# ---- the hand-written baseline -----------------------------------------------------------------


def vllm_command(c: Cluster, i: int, rpc: int, port: int) -> str:
    dp = len(c.hosts)  # tp = 8 = the cards of one server: one DP rank per server
    cmd = (
        f"vllm serve {MODEL} --data-parallel-size {dp} --data-parallel-size-local 1 "
        f"--data-parallel-start-rank {i} --data-parallel-address {c.hosts[0]} "
        f"--data-parallel-rpc-port {rpc} --tensor-parallel-size 8 --port {port}"
    )
    env = f"export HCCL_IF_IP={c.hosts[i]} GLOO_SOCKET_IFNAME=eth0 TP_SOCKET_IFNAME=eth0 HCCL_SOCKET_IFNAME=eth0; "
    return env + cmd + (" --headless" if i else "")


def mindie_config(c: Cluster, i: int, remote: Path, ports: dict[str, int]) -> Path:
    doc = serve_install.mindie_config(c.spec.servers[i])
    doc["BackendConfig"]["multiNodesInferEnabled"] = True
    doc["BackendConfig"]["multiNodesInferPort"] = ports["infer"]
    doc["ServerConfig"]["ipAddress"] = c.hosts[i]
    doc["ServerConfig"]["port"] = ports["http"]
    path = c.workdir / f"config-{c.hosts[i]}.json"
    path.write_text(json.dumps(doc, indent=4))
    path.chmod(0o640)
    return path


def mindie_command(c: Cluster, i: int, remote: Path) -> str:
    env = {
        "RANK_TABLE_FILE": str(remote / "rt.json"),
        "MASTER_IP": c.hosts[0],
        "MIES_CONTAINER_IP": c.hosts[i],
        "MIES_CONFIG_JSON_PATH": str(remote / "config.json"),
    }
    exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in env.items())
    return (
        f'unset http_proxy https_proxy; {exports}cd "$CLUSTER_CONSOLE_ROOT/{serve_install.MINDIE_HOME}"'
        " && ./bin/mindieservice_daemon"
    )


async def run(argv: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} failed ({proc.returncode}): {err.decode()[-500:]}")


async def baseline(c: Cluster, profile: str) -> Figures:
    fig = Figures()
    ports = {"http": free_port(), "infer": free_port(), "rpc": free_port()}
    t0 = time.monotonic()
    remotes = []
    for i, host in enumerate(c.hosts):  # the operator's sequential copy loop
        remote = c.workdir / "remote" / host
        remotes.append(remote)
        await run(c.ssh(host, f"mkdir -p {shlex.quote(str(remote))}"))
        await run(["scp", "-q", "-p", "-F", str(c.sim.ssh_config), str(c.ranktable), f"{host}:{remote}/rt.json"])
        if profile == "mindie-service":
            conf = mindie_config(c, i, remote, ports)
            await run(["scp", "-q", "-p", "-F", str(c.sim.ssh_config), str(conf), f"{host}:{remote}/config.json"])
    t_up = time.monotonic()
    procs = []
    for i, host in enumerate(c.hosts):  # `ssh host '...' &` in a loop
        cmd = (
            vllm_command(c, i, ports["rpc"], ports["http"])
            if profile == "vllm-ascend"
            else mindie_command(c, i, remotes[i])
        )
        procs.append(
            await asyncio.create_subprocess_exec(
                *c.ssh(host, cmd),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        )
    try:
        started, ready = await _watch(procs, READY[profile], every=profile == "mindie-service")
        t_ready = time.monotonic()
        ttft, total, fig.answer = await asyncio.to_thread(request, c.hosts[0], ports["http"], profile)
    finally:
        for p in procs:
            if p.returncode is None:
                p.terminate()  # ssh exits, the channel closes, the sim kills the process group
        await asyncio.gather(*(p.wait() for p in procs))
    fig.steps = {
        "upload": t_up - t0,
        "barrier": started - t_up,
        "ready": ready - started,
        "first_token": ttft + (t_ready - ready),
        "total": t_ready - t0 + ttft,
    }
    fig.note = f"request total {total:.3f} s"
    return fig


async def _watch(procs: list[Any], ready_line: str, every: bool) -> tuple[float, float]:
    """When every process printed a line; when the ready line came (from all, or from the first)."""
    first: dict[int, float] = {}
    readies: dict[int, float] = {}
    need = set(range(len(procs))) if every else {0}

    async def reader(i: int, p: Any) -> None:
        while line := await p.stdout.readline():
            first.setdefault(i, time.monotonic())
            if ready_line in line.decode(errors="replace"):
                readies.setdefault(i, time.monotonic())
                if need <= set(readies):
                    return
        raise SystemExit(f"server {i} ended before its ready line")

    async with asyncio.timeout(READY_S):
        tasks = [asyncio.create_task(reader(i, p)) for i, p in enumerate(procs)]
        while not need <= set(readies):
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()
                tasks.remove(t)
        for t in tasks:
            t.cancel()
    return max(first.values()), max(readies[i] for i in need)


def request(host: str, port: int, profile: str) -> tuple[float, float, str]:
    """One streamed completion: (time to the first text, total time, text)."""
    chat = profile == "mindie-service"
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 64, "stream": True}
    if chat:
        body["messages"] = [{"role": "user", "content": PROMPT}]
    else:
        body["prompt"] = PROMPT
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request(
        "POST",
        "/v1/chat/completions" if chat else "/v1/completions",
        json.dumps(body),
        {"content-type": "application/json"},
    )
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"request failed: HTTP {resp.status} {resp.read()[:500]!r}")
    ttft, text = None, []
    while line := resp.readline():
        if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
            continue
        choice = json.loads(line[6:])["choices"][0]
        piece = choice["delta"].get("content", "") if chat else choice["text"]
        if piece and ttft is None:
            ttft = time.monotonic() - t0
        text.append(piece)
    conn.close()
    return ttft or 0.0, time.monotonic() - t0, "".join(text)


# ---- the console ------------------------------------------------------------------------------


async def console(c: Cluster, profile: str) -> Figures:
    fig = Figures()
    if not (ROOT / "console" / "profiles" / f"{profile}.toml").exists():
        fig.note = f"profile {profile} is not in this checkout yet (console side of issue 13)"
        return fig
    help_text = await _output([sys.executable, "-m", "console", "launch", "--help"])
    argv = [
        sys.executable,
        "-m",
        "console",
        "-F",
        str(c.sim.ssh_config),
        "launch",
        "--ranktable",
        str(c.ranktable),
        "--profile",
        profile,
        "--smoke-prompt",
        PROMPT,
        "--smoke-only",
        "--json",
        "--run-dir",
        str(c.workdir / "runs"),
    ]
    for flag in ("--http-port", "--rpc-port"):
        if flag in help_text:
            argv += [flag, str(free_port())]
    if profile == "vllm-ascend":  # MindIE serves config.json's ModelConfig[0].modelName
        argv += ["--", MODEL]
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT
    )
    assert proc.stdout is not None and proc.stderr is not None
    seen: dict[str, float] = {}
    own_ttft = None
    async with asyncio.timeout(READY_S):
        while raw := await proc.stdout.readline():
            now = time.monotonic()
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            kind = ev.get("event", "")
            key = f"stage:{ev.get('name')}" if kind == "stage" else kind
            seen.setdefault(key, now)
            if kind in ("ready", "ready_service"):
                seen["last_ready"] = now  # a server's ready line; the service's (last) is the one
            if kind == "answer" or "smoke" in kind:
                if ev.get("ok") is False:
                    fig.note = f"the first request failed: {ev.get('error')}"
                    continue
                seen.setdefault("answer", now)
                fig.answer = str(ev.get("answer") or ev.get("text") or "")
                own_ttft = next((v for k, v in ev.items() if "first_token" in k or "ttft" in k), None)
        err = await proc.stderr.read()
        await proc.wait()
    if proc.returncode != 0 or "answer" not in seen:
        fig.note = (f"launch exit {proc.returncode}: {fig.note} {err.decode(errors='replace')[-800:]}").replace(
            "  ", " "
        )
        return fig
    fig.steps = {
        "start": seen["stage:prepare"] - t0,
        "upload": seen["stage:preflight"] - seen["stage:prepare"],
        "barrier": seen["stage:go"] - seen["stage:preflight"],
        "ready": seen["last_ready"] - seen["stage:go"],
        "first_token": float(own_ttft) if own_ttft is not None else seen["answer"] - seen["last_ready"],
        "total": seen["answer"] - t0,
    }
    fig.note = "first token: the console's own figure" if own_ttft is not None else ""
    return fig


async def _output(argv: list[str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT
    )
    out, _ = await proc.communicate()
    return out.decode(errors="replace")


# ---- report -----------------------------------------------------------------------------------


def report(servers: int, profile: str, mine: Figures, base: Figures) -> bool:
    print(f"\n{servers} servers x 8, {profile}: launch to first answered request")
    print(f"  {'step':<12}{'console':>10}{'baseline':>10}{'ratio':>8}")
    for fig in (mine, base):  # the two split "barrier" and "ready" differently: compare the sum
        if "barrier" in fig.steps:
            fig.steps["to_ready"] = fig.steps["barrier"] + fig.steps["ready"]
    for step in STEPS:
        a, b = mine.steps.get(step), base.steps.get(step)
        ratio = f"{a / b:8.2f}" if a is not None and b else f"{'-':>8}"
        print(f"  {step:<12}{_s(a)}{_s(b)}{ratio}")
    for who, fig in (("console", mine), ("baseline", base)):
        if fig.note:
            print(f"  {who}: {fig.note}")
    if base.answer:
        print(f"  answer: {base.answer[:70]!r}")
    if "total" not in mine.steps:
        return True
    ok = mine.steps["total"] <= TARGET_RATIO * base.steps["total"]
    print(f"  target: console total <= {TARGET_RATIO} x baseline -> {'met' if ok else 'MISSED'}")
    return ok


def _s(value: float | None) -> str:
    return f"{value:9.3f}s" if value is not None else f"{'-':>10}"


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default="2,16", help="comma-separated cluster sizes (default 2,16)")
    ap.add_argument("--profile", default="vllm-ascend,mindie-service")
    args = ap.parse_args()
    ok = True
    for n in (int(x) for x in args.servers.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
            workdir = Path(tmp)
            sim = start_sim(argparse.Namespace(servers=n, cards=8, port=free_port()), workdir)
            try:
                cluster = Cluster(n, sim, workdir)
                for profile in args.profile.split(","):
                    base = await baseline(cluster, profile)
                    mine = await console(cluster, profile)
                    ok = report(n, profile, mine, base) and ok
            finally:
                stop_sim(sim)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

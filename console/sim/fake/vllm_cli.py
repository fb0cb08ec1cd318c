"""Fake ``vllm`` of the simulated cluster: ``vllm serve MODEL`` with data parallelism across
servers without Ray (vLLM V1 with vllm-ascend), checked and joined like the real one.

Each server runs ``vllm serve MODEL --data-parallel-size DP --data-parallel-size-local DPL
--data-parallel-start-rank START --data-parallel-address MASTER --data-parallel-rpc-port RPC
--tensor-parallel-size TP`` and every server but the first adds ``--headless``. Checked with
vLLM's own wording (``ValueError``/``RuntimeError`` lines, exit 1; argparse errors exit 2):

* ``data_parallel_size_local (X) must be <= data_parallel_size (Y)``;
* ``data_parallel_rank (X) must be in the range [0, Y)`` (the start rank);
* ``data_parallel_size_local must be > 0 in headless mode``;
* ``GLOO_SOCKET_IFNAME`` naming a NIC the server lacks -> gloo's ``Unable to find address for:
  NAME``; ``HCCL_SOCKET_IFNAME`` matching none -> HCCL's ``set ifname to [NAME] by
  HCCL_SOCKET_IFNAME, but not found in the environment`` and the NICs it found (EI0001);
* on the head, per engine rank announced by another server: a rank outside the remote range
  or announced twice -> ``Message from engine with unexpected data parallel rank: R``; a
  server without ``--headless`` -> ``Remote engine R must use --headless unless in external
  or hybrid dp lb mode``; another dp/tp/pp size -> ``Configuration mismatch detected for
  engine R. ...``; each ends the head (exit 1).

A server pointed at another address or RPC port, or missing, never reaches the head: the head
waits forever, as vLLM does (``Waiting for N local, M remote core engine proc(s) to connect.``
every 10 s with ``VLLM_LOGGING_LEVEL=DEBUG``; ``CCSIM_POLL_S`` shortens the period in tests).
When every engine joined, the head binds the HTTP endpoint (``--host``, else this simulated
server's own address; ``--port``, default 8000) and prints uvicorn's ``Application startup
complete.``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from typing import Any

import serving
from serving import say

VERSION = "0.9.1"
PID = os.getpid()


def log(level: str, where: str, text: str, who: str = "APIServer") -> None:
    say(
        f"({who} pid={PID}) {level} {time.strftime('%m-%d %H:%M:%S')} [{where}] {text}",
        err=level in ("ERROR", "WARNING"),
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vllm serve", allow_abbrev=False)
    p.add_argument("model_tag", nargs="?")
    p.add_argument("--model", dest="model")
    p.add_argument("--served-model-name", nargs="+")
    p.add_argument("--host")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-parallel-size", "-dp", type=int, default=1)
    p.add_argument("--data-parallel-size-local", "-dpl", type=int)
    p.add_argument("--data-parallel-start-rank", "-dpr", type=int, default=0)
    p.add_argument("--data-parallel-address", "-dpa")
    p.add_argument("--data-parallel-rpc-port", "-dpp", type=int, default=29550)
    p.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    p.add_argument("--pipeline-parallel-size", "-pp", type=int, default=1)
    p.add_argument("--headless", action="store_true")
    return p


def _normalize(argv: list[str]) -> list[str]:
    """vLLM accepts ``--data_parallel_size`` as well as ``--data-parallel-size``."""
    out = []
    for arg in argv:
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            arg = name.replace("_", "-") + eq + value
        out.append(arg)
    return out


def _config_hash(args: argparse.Namespace) -> str:
    factors = [args.data_parallel_size, args.tensor_parallel_size, args.pipeline_parallel_size]
    return hashlib.sha256(json.dumps(factors).encode()).hexdigest()[:32]


def _check(args: argparse.Namespace) -> str | None:
    dp = args.data_parallel_size
    if args.data_parallel_size_local is None:
        args.data_parallel_size_local = dp
    local, start = args.data_parallel_size_local, args.data_parallel_start_rank
    if local > dp:
        return f"ValueError: data_parallel_size_local ({local}) must be <= data_parallel_size ({dp})"
    if dp > 1 and not 0 <= start < dp:
        return f"ValueError: data_parallel_rank ({start}) must be in the range [0, {dp})"
    if args.headless and local <= 0:
        return "ValueError: data_parallel_size_local must be > 0 in headless mode"
    return None


def _hccl_ifname_matches(spec: str, nics: list[str]) -> bool:
    """HCCL_SOCKET_IFNAME: comma list of prefixes, ``=name`` exact, ``^`` excludes."""
    exclude = spec.startswith("^")
    items = [i for i in spec.lstrip("^").split(",") if i]
    hits = [n for n in nics if any(n == i[1:] if i.startswith("=") else n.startswith(i) for i in items)]
    return bool(set(nics) - set(hits)) if exclude else bool(hits)


def _nic_error(nics: dict[str, str]) -> str | None:
    """What gloo (the DP group, first) and HCCL (root-info init) say when the ``*_IFNAME``
    variables name a NIC this server does not have."""
    gloo = os.environ.get("GLOO_SOCKET_IFNAME", "")
    for name in (n for n in gloo.split(",") if n):
        if name not in nics:
            return (
                "RuntimeError: [enforce fail at /pytorch/third_party/gloo/gloo/transport/tcp/device.cc:83] "
                f"ifa != nullptr. Unable to find address for: {name}"
            )
    hccl = os.environ.get("HCCL_SOCKET_IFNAME", "")
    if hccl and not _hccl_ifname_matches(hccl, list(nics)):
        now = time.time()
        ts = time.strftime("%Y-%m-%d-%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}.000"
        head = f"[ERROR] HCCL({PID},python3):{ts}"
        lines = [
            (
                f"{head} [sal.cc:501] [{PID}][InitGroupStage][EnvConfig]set ifname to [{hccl}] by "
                "HCCL_SOCKET_IFNAME, but not found in the environment, ifnames in the environment is "
                "as follows"
            )
        ]
        lines += [
            f"{head} [sal.cc:504] [{PID}][InitGroupStage][EnvConfig]get host ip fail by socket "
            f"Ifname. name[{nic}] ip[{ip}%{nic}]"
            for nic, ip in nics.items()
        ]
        return "\n".join(lines)
    return None


def main(argv: list[str], state_path: str) -> int:
    if argv[:1] in (["--version"], ["-v"]):
        say(VERSION)
        return 0
    if argv[:1] != ["serve"]:
        say("usage: vllm [-h] [-v] {chat,complete,serve,bench,collect-env,run-batch} ...", err=True)
        say(
            f"vllm: error: argument subparser: invalid choice: {argv[0]!r}"
            if argv
            else "vllm: error: the following arguments are required: subparser",
            err=True,
        )
        return 2
    args, _unknown = _parser().parse_known_args(_normalize(argv[1:]))
    args.model = args.model_tag or args.model or "Qwen/Qwen3-0.6B"
    state = serving.load_state(state_path)
    error = _check(args)
    if error is not None:
        say('Traceback (most recent call last):\n  File "/usr/local/bin/vllm", line 8, in <module>', err=True)
        say(error, err=True)
        return 1
    nic_error = _nic_error(state.get("nics", {}))
    if nic_error is not None:
        say(nic_error, err=True)
        return 1
    serve = state.get("serve", {})
    head = not args.headless and args.data_parallel_start_rank == 0
    address = args.data_parallel_address or "127.0.0.1"
    if head:
        return _head(args, state, serve, address)
    return _remote(args, state, serve, address)


def _head(args: argparse.Namespace, state: dict[str, Any], serve: dict[str, Any], address: str) -> int:
    log("INFO", "api_server.py:1287", f"vLLM API server version {VERSION}")
    log(
        "INFO",
        "cli_args.py:309",
        f"non-default args: {{'model_tag': {args.model!r}, "
        f"'data_parallel_size': {args.data_parallel_size}, 'tensor_parallel_size': "
        f"{args.tensor_parallel_size}}}",
    )
    if serve.get("no_join"):
        serving.hang()
    own = state.get("address", "127.0.0.1")
    local, dp = args.data_parallel_size_local, args.data_parallel_size
    master = None
    if local < dp:
        endpoint = f"tcp://{address}:{args.data_parallel_rpc_port}"
        if address not in (own, "127.0.0.1", "localhost"):
            say(f"zmq.error.ZMQError: Cannot assign requested address (addr='{endpoint}')", err=True)
            return 1
        try:
            master = serving.Master(
                address, args.data_parallel_rpc_port, {str(r) for r in range(local, dp)}, _judge(args, local, dp)
            )
        except OSError:
            say(f"zmq.error.ZMQError: Address already in use (addr='{endpoint}')", err=True)
            return 1
        debug = os.environ.get("VLLM_LOGGING_LEVEL", "").upper() == "DEBUG"

        def waiting(missing: set[str]) -> None:
            if debug:
                log(
                    "DEBUG",
                    "utils.py:751",
                    f"Waiting for 0 local, {len(missing)} remote core engine proc(s) to connect.",
                )

        master.wait(waiting, float(os.environ.get("CCSIM_POLL_S", "10")))
        master.watch(lambda ranks: _engine_died(ranks))
    host = args.host if args.host not in (None, "", "0.0.0.0") else own
    service = serving.Service((args.served_model_name or [args.model])[0], "vllm", serve.get("crash_after"), _crash)
    try:
        server = serving.http_server(host, args.port, service)
    except OSError as exc:
        say(
            f"OSError: [Errno {exc.errno}] error while attempting to bind on address "
            f"('{host}', {args.port}): {exc.strerror}",
            err=True,
        )
        return 1
    log("INFO", "api_server.py:1351", f"Starting vLLM API server 0 on http://{host}:{args.port}")
    say(f"INFO:     Started server process [{PID}]")
    say("INFO:     Waiting for application startup.")
    say("INFO:     Application startup complete.")
    server.serve_forever()
    return 0


def _judge(args: argparse.Namespace, local: int, dp: int) -> Any:
    seen: set[int] = set()
    expected = _config_hash(args)

    def check(hello: dict[str, Any]) -> serving.Verdict:
        ranks = [int(r) for r in hello.get("ids", [])]
        for rank in ranks:
            if not local <= rank < dp or rank in seen:
                return ("fatal", (f"RuntimeError: Message from engine with unexpected data parallel rank: {rank}"))
        first = ranks[0] if ranks else local
        if not hello.get("headless"):
            return (
                "fatal",
                (f"RuntimeError: Remote engine {first} must use --headless unless in external or hybrid dp lb mode"),
            )
        if hello.get("hash") != expected:
            return (
                "fatal",
                (
                    f"RuntimeError: Configuration mismatch detected for engine {first}. All "
                    "DP workers must have identical configurations for parameters that "
                    "affect collective communication (e.g., enable_eplb, "
                    f"eplb_config.log_balancedness). Worker hash: {hello.get('hash')}, "
                    f"Expected hash: {expected}. Please ensure all workers are started "
                    "with the same command-line arguments."
                ),
            )
        seen.update(ranks)
        return None

    return check


def _engine_died(ranks: str) -> None:
    for rank in ranks.split(","):
        log(
            "ERROR",
            "core_client.py:564",
            f"Engine core proc EngineCore_DP{rank} died unexpectedly, shutting down client.",
        )
    os._exit(1)


def _crash() -> None:
    log("ERROR", "core.py:700", "EngineCore encountered a fatal error.", who="EngineCore_DP0")
    log("ERROR", "async_llm.py:420", "AsyncLLM output_handler failed.")
    say(
        "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. See stack "
        "trace (above) for the root cause.",
        err=True,
    )
    say("INFO:     Shutting down")
    os._exit(1)


def _remote(args: argparse.Namespace, state: dict[str, Any], serve: dict[str, Any], address: str) -> int:
    local, start = args.data_parallel_size_local, args.data_parallel_start_rank
    endpoint = f"tcp://{address}:{args.data_parallel_rpc_port}"
    if args.headless:
        log(
            "INFO",
            "serve.py:187",
            f"Launching {local} data parallel engine(s) in headless mode, with head node address {endpoint}.",
            who="EngineCore",
        )
    else:
        log("INFO", "api_server.py:1287", f"vLLM API server version {VERSION}")
    if serve.get("no_join"):
        serving.hang()
    hello = {
        "ids": [str(r) for r in range(start, start + local)],
        "headless": args.headless,
        "hash": _config_hash(args),
        "server": state.get("server"),
    }
    sock, error = serving.join(address, args.data_parallel_rpc_port, hello)
    if error is not None:
        say(error, err=True)
        return 1
    serving.wait_master_gone(sock)
    log("ERROR", "core.py:700", "EngineCore encountered a fatal error.", who=f"EngineCore_DP{start}")
    return 1


if __name__ == "__main__":  # pragma: no cover - the launcher calls main()
    sys.exit(main(sys.argv[1:], os.environ.get("CCSIM_STATE", "")))

#!/usr/bin/env python3
"""Collective probe: run on every rank as ``python3 probe.py [args]``.

Checks that the ranks can meet (rank check-in through a TCPStore at MASTER_ADDR:MASTER_PORT,
naming the ranks that never joined), that collectives give exact results, and measures
all_reduce, all_gather, reduce_scatter, all_to_all and broadcast like nccl-tests
(size, count, type, time, algbw, busbw) plus each rank's own time, so a slow rank stands out.
``--tp-smoke`` runs a tiny tensor-parallel Llama-style decoder instead; ``--mode all`` both.

Shipping: this file loads collectives.py and tp_smoke.py from its own directory by path
(SHIP_FILES below): upload the three files into one directory, run this one.

Environment (per rank): RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (required); LOCAL_RANK
(default RANK), DEVICE_ID (default LOCAL_RANK), BACKEND (hccl | gloo; default hccl when
torch_npu is importable, else gloo).

stdout carries JSON lines only, one object per record, each with a "probe" key
(start, check, result, tp_smoke, error, done); human text goes to stderr.
Exit: 0 ok; 1 a check failed; 2 bad arguments/environment or torch/torch_npu missing;
3 the ranks could not meet or a collective failed.

Only stdlib + torch (+ torch_npu with hccl): this file imports nothing from ``console``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import json
import os
import socket
import sys
import time
import traceback
import warnings
from pathlib import Path

try:
    import torch
    import torch.distributed as dist
except ImportError:  # reported cleanly by main()
    torch = dist = None

EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_COMM = 1, 2, 3
OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast")  # = collectives.OPS
DTYPES = ("float32", "float16", "bfloat16")
HOST = socket.gethostname()
_RANK: list[int | None] = [None]


class ProbeError(Exception):
    """A failure reported as one ``{"probe": "error"}`` record, then exit ``exit_code``."""

    def __init__(self, stage: str, message: str, exit_code: int = EXIT_COMM, **extra) -> None:
        super().__init__(message)
        self.stage, self.exit_code, self.extra = stage, exit_code, extra


def emit(kind: str, **fields) -> None:
    """One JSON record on stdout."""
    record = {"probe": kind, "rank": _RANK[0], "host": HOST, **fields}
    print(json.dumps(record), flush=True)


def say(message: str) -> None:
    print(f"probe[rank {_RANK[0]} on {HOST}]: {message}", file=sys.stderr, flush=True)


def fold(ranks: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    parts, start = [], None
    for i, r in enumerate(ranks):
        if start is None:
            start = r
        if i + 1 == len(ranks) or ranks[i + 1] != r + 1:
            parts.append(str(start) if start == r else f"{start}-{r}")
            start = None
    return ", ".join(parts)


def ranks_phrase(ranks: list[int]) -> str:
    return f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {fold(ranks)}"


# ---------------------------------------------------------------- arguments and environment


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # an error record instead of argparse's exit
        raise ProbeError("args", f"probe.py: {message}", EXIT_USAGE)


def parse_size(text: str) -> int:
    """'64K' -> 65536 (binary units, like nccl-tests)."""
    t = text.strip().upper().removesuffix("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    digits = t[:-1] if t[-1:] in "KMG" and t else t
    if not digits.isdigit() or int(digits) <= 0:
        raise ProbeError("args", f"--sizes: bad size {text!r} (use e.g. 1K,64K,1M)", EXIT_USAGE)
    return int(digits) * mult


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = _Parser(prog="probe.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1K,64K,1M", help="message sizes, e.g. 1K,64K,1M")
    p.add_argument("--ops", default=",".join(OPS), help=f"comma list of {', '.join(OPS)}")
    p.add_argument("--dtype", default="float32", choices=DTYPES, help="benchmark data type")
    p.add_argument("--warmup", type=int, default=5, help="untimed iterations per size")
    p.add_argument("--iters", type=int, default=20, help="timed iterations per size")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for every rank to join (and collective timeout)"
    )
    p.add_argument(
        "--backend",
        default=os.environ.get("BACKEND") or None,
        choices=("hccl", "gloo"),
        help="default: $BACKEND, else hccl if torch_npu",
    )
    p.add_argument("--mode", default="collectives", choices=("collectives", "tp-smoke", "all"))
    p.add_argument(
        "--tp-smoke",
        dest="mode",
        action="store_const",
        const="tp-smoke",
        help="run the tensor-parallel smoke model instead of the collectives",
    )
    p.add_argument(
        "--corrupt",
        metavar="RANK:OP",
        default=None,
        help="testing aid: RANK falsifies one value of OP's check result, to see the failure path end to end",
    )
    p.add_argument("--tokens", type=int, default=16, help="TP smoke: tokens to decode")
    p.add_argument("--tp-layers", type=int, default=2, help="TP smoke: decoder layers")
    p.add_argument("--tp-heads", type=int, default=None, help="TP smoke: heads (default 2*world)")
    p.add_argument("--seed", type=int, default=1234, help="TP smoke: weight seed")
    p.add_argument("--tolerance", type=float, default=1e-3, help="TP smoke: logits rtol/atol")
    args = p.parse_args(argv)
    args.sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    args.ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    bad = [o for o in args.ops if o not in OPS]
    if bad:
        p.error(f"--ops: unknown op {bad[0]!r} (known: {', '.join(OPS)})")
    if args.warmup < 0 or args.iters < 1 or args.timeout <= 0 or args.tokens < 1:
        p.error("--warmup >= 0, --iters >= 1, --timeout > 0 and --tokens >= 1 are required")
    return args


def _env_int(env, name: str, default: int | None = None, low: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ProbeError("env", f"{name} is not set on host {HOST}", EXIT_USAGE)
        return default
    if not raw.strip().isdigit() or int(raw) < low:
        raise ProbeError("env", f"{name}={raw!r} on host {HOST} is not an integer >= {low}", EXIT_USAGE)
    return int(raw)


def read_env(env) -> dict:
    rank = _env_int(env, "RANK")
    _RANK[0] = rank
    world = _env_int(env, "WORLD_SIZE", low=1)
    if rank >= world:
        raise ProbeError("env", f"RANK={rank} is not below WORLD_SIZE={world}", EXIT_USAGE)
    local_rank = _env_int(env, "LOCAL_RANK", rank)
    addr = env.get("MASTER_ADDR")
    if not addr:
        raise ProbeError("env", f"MASTER_ADDR is not set on host {HOST} (rank 0's address)", EXIT_USAGE)
    port = _env_int(env, "MASTER_PORT", low=1)
    if port > 65535:
        raise ProbeError("env", f"MASTER_PORT={port} is not a TCP port", EXIT_USAGE)
    return {
        "rank": rank,
        "world": world,
        "local_rank": local_rank,
        "device_id": _env_int(env, "DEVICE_ID", local_rank),
        "addr": addr,
        "port": port,
    }


# ---------------------------------------------------------------- backend and rendezvous


def setup_backend(ctx: dict, backend: str | None) -> torch.device:
    """hccl: import torch_npu and set the device FIRST (before any process group)."""
    have_npu = importlib.util.find_spec("torch_npu") is not None
    backend = backend or ("hccl" if have_npu else "gloo")
    ctx["backend"] = backend
    if backend == "gloo":
        if not os.environ.get("OMP_NUM_THREADS"):
            torch.set_num_threads(1)  # many ranks share a host's cores: avoid oversubscription
        return torch.device("cpu")
    if not have_npu:
        raise ProbeError(
            "backend",
            f"torch_npu is not installed on host {HOST}: BACKEND=hccl "
            "needs torch_npu and CANN (source CANN's set_env.sh in the launch "
            "profile, or use BACKEND=gloo for a CPU-only check)",
            EXIT_USAGE,
        )
    try:
        importlib.import_module("torch_npu")
    except Exception as exc:  # ImportError, OSError: CANN libraries not found
        raise ProbeError(
            "backend",
            f"torch_npu failed to import on host {HOST}: {exc} (is CANN installed and its set_env.sh sourced?)",
            EXIT_USAGE,
        ) from exc
    try:
        torch.npu.set_device(ctx["device_id"])
    except Exception as exc:
        raise ProbeError(
            "device", f"torch.npu.set_device({ctx['device_id']}) failed on host {HOST}: {exc}", EXIT_COMM
        ) from exc
    return torch.device("npu", ctx["device_id"])


def open_store(ctx: dict, timeout: float):
    where = f"{ctx['addr']}:{ctx['port']}"
    try:
        return dist.TCPStore(
            ctx["addr"],
            ctx["port"],
            ctx["world"],
            ctx["rank"] == 0,
            datetime.timedelta(seconds=timeout),
            wait_for_workers=False,
        )
    except Exception as exc:
        if ctx["rank"] == 0:
            raise ProbeError(
                "rendezvous",
                f"rank 0 could not listen on {where} on host {HOST}: {exc} (port in use? MASTER_ADDR not local?)",
            ) from exc
        raise ProbeError(
            "rendezvous",
            f"rank {ctx['rank']} could not reach the master at "
            f"{where} within {timeout:g} s: rank 0 never joined (not started, "
            "or a firewall blocks the port)",
            missing_ranks=[0],
        ) from exc


def _missing(store, world: int) -> list[int]:
    return [r for r in range(world) if not store.check([f"probe/joined/{r}"])]


def rendezvous(ctx: dict, timeout: float):
    """Every rank checks in; rank 0 decides who is missing and tells the others."""
    store = open_store(ctx, timeout)
    rank, world = ctx["rank"], ctx["world"]
    store.set(f"probe/joined/{rank}", HOST)
    try:
        if rank == 0:
            verdict = _master_verdict(store, world, timeout)
        else:
            store.wait(["probe/verdict"], datetime.timedelta(seconds=timeout + 15))
            verdict = json.loads(store.get("probe/verdict"))
            store.set(f"probe/ack/{rank}", "1")
    except ProbeError:
        raise
    except Exception as exc:
        raise ProbeError(
            "rendezvous",
            f"lost the rank-0 store at {ctx['addr']}:{ctx['port']} while waiting for the other ranks: {exc}",
        ) from exc
    if verdict["missing"]:
        raise _missing_error(ctx, verdict)
    return store


def _missing_error(ctx: dict, verdict: dict) -> ProbeError:
    missing, world = verdict["missing"], ctx["world"]
    came = "; ".join(f"{ranks_phrase(r)} on {h}" for h, r in verdict["joined"].items())
    return ProbeError(
        "rendezvous",
        f"{ranks_phrase(missing)} never joined within {verdict['timeout']:g} s at "
        f"{ctx['addr']}:{ctx['port']} ({world - len(missing)} of {world} checked in: {came}); "
        "was it started, and can its server reach MASTER_ADDR?",
        missing_ranks=missing,
        joined=verdict["joined"],
    )


def _master_verdict(store, world: int, timeout: float) -> dict:
    keys = [f"probe/joined/{r}" for r in range(world)]
    try:
        store.wait(keys, datetime.timedelta(seconds=timeout))
        missing = []
    except Exception:  # timed out: find out who
        missing = _missing(store, world)
    joined: dict[str, list[int]] = {}
    for r in range(world):
        if r not in missing:
            joined.setdefault(store.get(keys[r]).decode(), []).append(r)
    verdict = {"missing": missing, "joined": joined, "timeout": timeout}
    store.set("probe/verdict", json.dumps(verdict))
    if missing:  # keep the store up until the ranks that came have read the verdict
        acks = [f"probe/ack/{r}" for r in range(1, world) if r not in missing]
        try:
            store.wait(acks, datetime.timedelta(seconds=10)) if acks else None
        except Exception:
            pass
    return verdict


def init_group(ctx: dict, store, timeout: float) -> None:
    try:
        dist.init_process_group(
            backend=ctx["backend"],
            store=store,
            rank=ctx["rank"],
            world_size=ctx["world"],
            timeout=datetime.timedelta(seconds=timeout),
        )
    except Exception as exc:
        raise ProbeError(
            "init", f"init_process_group(backend={ctx['backend']!r}) failed on host {HOST}: {exc}"
        ) from exc


# ---------------------------------------------------------------- main

SHIP_FILES = ("probe.py", "collectives.py", "tp_smoke.py")  # one directory on the server


def load_sibling(name: str):
    """Import ``name``.py from this file's directory (shipped together; not a package)."""
    path = Path(__file__).with_name(f"{name}.py")
    if not path.is_file():
        raise ProbeError(
            "files",
            f"{path.name} is missing next to {Path(__file__).name} in "
            f"{path.parent} on host {HOST} (ship {', '.join(SHIP_FILES)} together)",
            EXIT_USAGE,
        )
    spec = importlib.util.spec_from_file_location(f"probe_{name}", path)
    if spec is None or spec.loader is None:
        raise ProbeError("files", f"cannot load {path} on host {HOST}", EXIT_USAGE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _collectives(ctx: dict, args, device) -> bool:
    coll = load_sibling("collectives")
    ok = True
    corrupt = None
    if args.corrupt:
        rank, _, op = args.corrupt.partition(":")
        corrupt = op if rank == str(ctx["rank"]) else None
    for rec in coll.checks(ctx["rank"], ctx["world"], device, args.ops, corrupt):
        emit("check", **rec)
        if not rec["ok"]:
            say(f"{rec['op']} check FAILED: {rec['mismatches']} wrong values, first {rec['first_bad']}")
        ok &= rec["ok"]
    for rec in coll.bench(ctx["rank"], ctx["world"], device, args.ops, args.sizes, args.dtype, args.warmup, args.iters):
        emit("result", backend=ctx["backend"], **rec)
    return ok


def _tp_config(ctx: dict, args):
    if args.mode == "collectives":
        return None, None
    tp_smoke = load_sibling("tp_smoke")
    try:
        return tp_smoke, tp_smoke.make_config(ctx["world"], args)
    except ValueError as exc:
        raise ProbeError("args", f"--tp-smoke: {exc}", EXIT_USAGE) from exc


def simulated_hccl_init() -> None:
    """On the simulated cluster only (CCSIM_STATE set and its ``ccsim-hccl-init`` on PATH):
    HCCL's communicator init against the planted faults, whatever the backend, as a real job
    would set HCCL up; it prints HCCL's own log lines when a fault is hit."""
    import shutil
    import subprocess

    tool = shutil.which("ccsim-hccl-init") if os.environ.get("CCSIM_STATE") else None
    if tool is not None and subprocess.call([tool]) != 0:
        raise ProbeError(
            "hccl", f"HCCL communicator init failed on host {HOST} (simulated cluster; see the HCCL lines above)"
        )


def run(ctx: dict, args) -> bool:
    simulated_hccl_init()
    device = setup_backend(ctx, args.backend)
    emit(
        "start",
        world_size=ctx["world"],
        local_rank=ctx["local_rank"],
        device_id=ctx["device_id"],
        backend=ctx["backend"],
        mode=args.mode,
        pid=os.getpid(),
        torch=torch.__version__,
    )
    tp_smoke, cfg = _tp_config(ctx, args)
    store = rendezvous(ctx, args.timeout)
    init_group(ctx, store, args.timeout)
    say(f"all {ctx['world']} ranks joined ({ctx['backend']}, device {device})")
    ok = True
    try:
        if args.mode != "tp-smoke":
            ok = _collectives(ctx, args, device)
        if tp_smoke is not None:
            record = tp_smoke.run(cfg, ctx["rank"], ctx["world"], device, args.tolerance)
            if ctx["rank"] == 0:
                emit("tp_smoke", **record)
            ok &= record["ok"]
        dist.barrier()
    except ProbeError:
        raise
    except Exception as exc:
        raise ProbeError("collective", f"{type(exc).__name__}: {exc}") from exc
    finally:
        dist.destroy_process_group()
    return ok


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=FutureWarning)
    t0 = time.monotonic()
    raw_rank = os.environ.get("RANK", "")
    _RANK[0] = int(raw_rank) if raw_rank.isdigit() else None
    try:
        args = parse_args(argv)
        ctx = read_env(os.environ)
        if torch is None:
            raise ProbeError(
                "env",
                f"torch is not installed on host {HOST} ({sys.executable}); "
                "put a python with torch first on PATH with a setup line, e.g. "
                "--setup 'source /path/to/venv/bin/activate'",
                EXIT_USAGE,
            )
        ok = run(ctx, args)
    except ProbeError as exc:
        emit("error", stage=exc.stage, message=str(exc), exit_code=exc.exit_code, **exc.extra)
        say(f"error: {exc}")
        emit("done", ok=False, seconds=round(time.monotonic() - t0, 3))
        return exc.exit_code
    except Exception as exc:  # a bug or an unforeseen torch error: still one error record
        traceback.print_exc()
        emit("error", stage="internal", message=f"{type(exc).__name__}: {exc}", exit_code=EXIT_COMM)
        emit("done", ok=False, seconds=round(time.monotonic() - t0, 3))
        return EXIT_COMM
    emit("done", ok=ok, seconds=round(time.monotonic() - t0, 3))
    if not ok:
        say("a check FAILED (see the check / tp_smoke records)")
    return 0 if ok else EXIT_CHECK_FAILED


if __name__ == "__main__":
    sys.exit(main())

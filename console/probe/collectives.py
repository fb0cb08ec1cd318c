"""Collective correctness checks and nccl-tests-style timing (loaded by probe.py).

Every function works on an initialised default process group and yields plain dict records;
probe.py prints them. stdlib + torch only (torch_npu only through ``device.type == "npu"``).
"""

from __future__ import annotations

import time

import torch
import torch.distributed as dist

OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast")
# nccl-tests' bus-bandwidth factors (doc/PERFORMANCE.md)
BUS_FACTOR = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
}


def collective(op: str):
    """The tensor-to-tensor form ``fn(output, input)`` (new names first, older torch after)."""
    if op == "all_gather":
        return getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    if op == "reduce_scatter":
        return getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
    if op == "all_to_all":
        return dist.all_to_all_single
    raise ValueError(op)


# ---------------------------------------------------------------- correctness


def pattern(numel: int, rank: int, device, shift: int = 0) -> torch.Tensor:
    """Integer-valued float32 data: every partial sum stays exact below 2**24."""
    return (torch.arange(numel, device=device) % 7 + rank + shift).to(torch.float32)


def expected(op: str, chunk: int, r: int, n: int) -> torch.Tensor:
    """What rank ``r`` must hold after ``op`` (on CPU)."""
    if op == "all_reduce":
        return sum(pattern(chunk, s, "cpu") for s in range(n))
    if op == "all_gather":
        return torch.cat([pattern(chunk, s, "cpu") for s in range(n)])
    if op == "reduce_scatter":
        return sum(pattern(chunk * n, s, "cpu") for s in range(n))[r * chunk : (r + 1) * chunk]
    if op == "all_to_all":  # rank s sends its chunk j (shifted by 10*j) to rank j
        return torch.cat([pattern(chunk, s, "cpu", 10 * r) for s in range(n)])
    return pattern(chunk, n - 1, "cpu")  # broadcast from the LAST rank (not the usual 0)


def _run_once(op: str, r: int, n: int, device, chunk: int) -> torch.Tensor:
    if op == "all_to_all":
        x = torch.cat([pattern(chunk, r, device, 10 * j) for j in range(n)])
    else:
        x = pattern(chunk * n if op == "reduce_scatter" else chunk, r, device)
    if op == "all_reduce":
        dist.all_reduce(x)
        return x
    if op == "broadcast":
        dist.broadcast(x, src=n - 1)
        return x
    out = torch.empty(chunk if op == "reduce_scatter" else chunk * n, device=device)
    collective(op)(out, x)
    return out


def check_op(op: str, r: int, n: int, device, chunk: int = 1024, corrupt: bool = False) -> dict:
    """Run ``op`` once on known integer data and compare exactly. ``corrupt`` falsifies one
    received value (a testing aid: the failure path, end to end)."""
    got = _run_once(op, r, n, device, chunk).cpu()
    if corrupt:
        got[got.numel() // 2] += 1
    want = expected(op, chunk, r, n)
    bad = (got != want).nonzero().flatten()
    rec = {
        "op": op,
        "type": "float32",
        "count": int(got.numel()),
        "ok": bad.numel() == 0,
        "mismatches": int(bad.numel()),
    }
    if bad.numel():
        i = int(bad[0])
        rec["first_bad"] = {"index": i, "got": float(got[i]), "want": float(want[i])}
    return rec


def checks(r: int, n: int, device, ops, corrupt: str | None = None) -> list[dict]:
    return [check_op(op, r, n, device, corrupt=op == corrupt) for op in ops]


# ---------------------------------------------------------------- timing


def prepare(op: str, count: int, n: int, dtype, device):
    """(run, count, size_bytes) for one message. ``count`` is rounded down to a multiple of
    n where the op splits the buffer; size is the larger buffer, as nccl-tests prints it."""
    if op in ("all_gather", "reduce_scatter", "all_to_all"):
        count = max(n, count - count % n)
    big = torch.ones(count, dtype=dtype, device=device)
    small = torch.ones(count // n, dtype=dtype, device=device)
    out = torch.empty_like(big)
    runs = {
        "all_reduce": lambda: dist.all_reduce(big),
        "all_gather": lambda: collective("all_gather")(big, small),
        "reduce_scatter": lambda: collective("reduce_scatter")(small, big),
        "all_to_all": lambda: collective("all_to_all")(out, big),
        "broadcast": lambda: dist.broadcast(big, src=0),
    }
    return runs[op], count, count * big.element_size()


def sync(device) -> None:
    if device.type == "npu":
        torch.npu.synchronize()


def time_op(run, warmup: int, iters: int, device) -> float:
    """Microseconds per call on this rank, after a barrier so every rank starts together."""
    for _ in range(warmup):
        run()
    sync(device)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(iters):
        run()
    sync(device)
    return (time.perf_counter() - t0) / iters * 1e6


def gather_floats(value: float, n: int, device) -> list[float]:
    """Every rank's ``value``, in rank order (all_gather: HCCL has no CPU gather)."""
    mine = torch.tensor([value], dtype=torch.float32, device=device)
    out = torch.empty(n, dtype=torch.float32, device=device)
    collective("all_gather")(out, mine)
    return [round(float(v), 3) for v in out.cpu()]


def bench(r: int, n: int, device, ops, sizes, dtype_name: str, warmup: int, iters: int):
    """Yield one result record per (op, size) on rank 0; other ranks only take part."""
    dtype = getattr(torch, dtype_name)
    esize = torch.empty(0, dtype=dtype).element_size()
    for op in ops:
        for size in sizes:
            run, count, nbytes = prepare(op, max(1, size // esize), n, dtype, device)
            per_rank = gather_floats(time_op(run, warmup, iters, device), n, device)
            if r != 0:
                continue
            t_us = sum(per_rank) / n  # nccl-tests' default (-a 1): average over ranks
            algbw = nbytes / t_us / 1e3 if t_us > 0 else 0.0  # bytes/us/1e3 = GB/s
            yield {
                "op": op,
                "size": nbytes,
                "count": count,
                "type": dtype_name,
                "time_us": round(t_us, 3),
                "algbw": round(algbw, 4),
                "busbw": round(algbw * BUS_FACTOR[op](n), 4),
                "per_rank_us": per_rank,
                "world_size": n,
                "warmup": warmup,
                "iters": iters,
            }

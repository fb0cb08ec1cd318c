"""Tensor-parallel smoke model (loaded by ``probe.py --tp-smoke``).

A tiny Llama-style decoder: embedding, RMSNorm, rotary attention whose heads are split across
ranks (column-parallel Q/K/V, row-parallel output + all_reduce), SwiGLU MLP (column-parallel
gate/up, row-parallel down + all_reduce), final RMSNorm and a replicated LM head.

Every rank builds the FULL weights from a fixed seed (on CPU, in a fixed order, so they are
bit-identical everywhere) and keeps its shard. Ranks decode greedily; rank 0 then runs the
full model in one process on the same sequence and compares every step's logits.
stdlib + torch only. Runs in float32 (the reference is float32 on CPU).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F

LAYER_KEYS = ("attn_norm", "wq", "wk", "wv", "wo", "mlp_norm", "w_gate", "w_up", "w_down")
COLUMN = ("wq", "wk", "wv", "w_gate", "w_up")  # output features split across ranks
ROW = ("wo", "w_down")  # input features split across ranks; partial sums all_reduced


@dataclass(frozen=True)
class Config:
    vocab: int = 256
    heads: int = 8
    head_dim: int = 16
    ffn: int = 512
    layers: int = 2
    prompt_len: int = 8
    tokens: int = 16
    seed: int = 1234
    eps: float = 1e-5

    @property
    def hidden(self) -> int:
        return self.heads * self.head_dim


def make_config(world: int, args) -> Config:
    """From probe.py's arguments; heads default to 2 per rank. ValueError when not divisible."""
    heads = args.tp_heads or 2 * world
    if heads % world:
        raise ValueError(f"--tp-heads {heads} is not divisible by the world size {world}")
    if args.tp_layers < 1:
        raise ValueError("--tp-layers must be >= 1")
    head_dim = 16
    return Config(
        heads=heads,
        head_dim=head_dim,
        ffn=4 * heads * head_dim,
        layers=args.tp_layers,
        tokens=args.tokens,
        seed=args.seed,
    )


def build_weights(cfg: Config) -> dict[str, torch.Tensor]:
    """The full model, deterministic from ``cfg.seed`` (x @ W layout: W is [in, out])."""
    g = torch.Generator().manual_seed(cfg.seed)

    def mat(n_in: int, n_out: int) -> torch.Tensor:
        return torch.randn(n_in, n_out, generator=g) / n_in**0.5

    def norm() -> torch.Tensor:
        return 1.0 + 0.1 * torch.randn(cfg.hidden, generator=g)

    h = cfg.hidden
    w = {"embed": torch.randn(cfg.vocab, h, generator=g)}
    for i in range(cfg.layers):
        w.update(
            {
                f"{i}.attn_norm": norm(),
                f"{i}.wq": mat(h, h),
                f"{i}.wk": mat(h, h),
                f"{i}.wv": mat(h, h),
                f"{i}.wo": mat(h, h),
                f"{i}.mlp_norm": norm(),
                f"{i}.w_gate": mat(h, cfg.ffn),
                f"{i}.w_up": mat(h, cfg.ffn),
                f"{i}.w_down": mat(cfg.ffn, h),
            }
        )
    w["final_norm"] = norm()
    w["lm_head"] = mat(h, cfg.vocab)
    return w


def shard(full: dict[str, torch.Tensor], rank: int, world: int) -> dict[str, torch.Tensor]:
    """This rank's slice: head-aligned column blocks for Q/K/V and gate/up, the matching row
    blocks for the output and down projections; everything else replicated."""
    out = {}
    for name, t in full.items():
        kind = name.split(".")[-1]
        if kind in COLUMN:
            step = t.shape[1] // world
            out[name] = t[:, rank * step : (rank + 1) * step].contiguous()
        elif kind in ROW:
            step = t.shape[0] // world
            out[name] = t[rank * step : (rank + 1) * step, :].contiguous()
        else:
            out[name] = t
    return out


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope(x: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding on [heads, T, head_dim] (rotate-half form)."""
    _, t, d = x.shape
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2, device=x.device, dtype=x.dtype) / d))
    ang = torch.arange(t, device=x.device, dtype=x.dtype)[:, None] * inv[None, :]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def attention(x, w, i: int, cfg: Config, reduce) -> torch.Tensor:
    t = x.shape[0]
    q, k, v = (x @ w[f"{i}.{n}"] for n in ("wq", "wk", "wv"))
    heads = q.shape[1] // cfg.head_dim  # this rank's heads
    q, k, v = (m.view(t, heads, cfg.head_dim).transpose(0, 1) for m in (q, k, v))
    q, k = rope(q), rope(k)
    scores = q @ k.transpose(1, 2) / cfg.head_dim**0.5
    mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
    probs = scores.masked_fill(mask, float("-inf")).softmax(-1)
    ctx = (probs @ v).transpose(0, 1).reshape(t, heads * cfg.head_dim)
    return reduce(ctx @ w[f"{i}.wo"])


def mlp(x, w, i: int, reduce) -> torch.Tensor:
    h = F.silu(x @ w[f"{i}.w_gate"]) * (x @ w[f"{i}.w_up"])
    return reduce(h @ w[f"{i}.w_down"])


def forward(w: dict, cfg: Config, tokens: torch.Tensor, reduce) -> torch.Tensor:
    """Logits [T, vocab] for a 1-D token sequence. ``reduce`` sums row-parallel partials."""
    x = w["embed"][tokens]
    for i in range(cfg.layers):
        x = x + attention(rms_norm(x, w[f"{i}.attn_norm"], cfg.eps), w, i, cfg, reduce)
        x = x + mlp(rms_norm(x, w[f"{i}.mlp_norm"], cfg.eps), w, i, reduce)
    return rms_norm(x, w["final_norm"], cfg.eps) @ w["lm_head"]


def prompt(cfg: Config) -> torch.Tensor:
    g = torch.Generator().manual_seed(cfg.seed + 1)
    return torch.randint(0, cfg.vocab, (cfg.prompt_len,), generator=g)


def greedy(w: dict, cfg: Config, start: torch.Tensor, reduce):
    """Greedy decoding (the whole sequence each step: no KV cache, tiny model).
    Returns (sequence, logits of each decoding step [tokens, vocab])."""
    seq, steps = start, []
    for _ in range(cfg.tokens):
        logits = forward(w, cfg, seq, reduce)[-1]
        steps.append(logits)
        seq = torch.cat([seq, logits.argmax().view(1)])
    return seq, torch.stack(steps)


def reference(cfg: Config, full: dict | None = None):
    """Single-process run of the full model: (sequence, step logits)."""
    return greedy(full or build_weights(cfg), cfg, prompt(cfg), lambda t: t)


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    dist.all_reduce(t)
    return t


def _gather(t: torch.Tensor, world: int) -> torch.Tensor:
    out = torch.empty(world * t.numel(), dtype=t.dtype, device=t.device)
    fn = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    fn(out, t.contiguous().view(-1))
    return out.view(world, *t.shape).cpu()


def run(cfg: Config, rank: int, world: int, device, tolerance: float) -> dict:
    """Decode on every rank; rank 0 compares with the single-process model. Every rank gets
    the same ``ok`` (broadcast from rank 0); only rank 0's record carries the details."""
    full = build_weights(cfg)
    local = {k: v.to(device) for k, v in shard(full, rank, world).items()}
    dist.barrier()
    t0 = time.perf_counter()
    seq, steps = greedy(local, cfg, prompt(cfg).to(device), _all_reduce)
    tps = cfg.tokens / (time.perf_counter() - t0)
    all_seq = _gather(seq.to(torch.int32), world)
    all_tps = _gather(torch.tensor([tps], dtype=torch.float32, device=device), world)
    rec = {"ok": True, "world_size": world, "config": asdict(cfg), "tolerance": tolerance}
    if rank == 0:
        rec.update(_compare(cfg, full, seq.cpu(), steps.cpu(), all_seq, tolerance))
        rec["tokens_per_s"] = round(float(all_tps.min()), 2)  # the slowest rank bounds it
        rec["per_rank_tokens_per_s"] = [round(float(v), 2) for v in all_tps.view(-1)]
    flag = torch.tensor([1 if rec["ok"] else 0], dtype=torch.int32, device=device)
    dist.broadcast(flag, src=0)
    rec["ok"] = bool(int(flag.item()))
    return rec


def _compare(cfg, full, seq, steps, all_seq, tolerance: float) -> dict:
    """Teacher-forced reference: the full model on the TP run's own sequence, so one near-tie
    argmax cannot cascade; the logits must match step by step."""
    ref = forward(full, cfg, seq[:-1], lambda t: t)[cfg.prompt_len - 1 :]
    diff = float((ref - steps).abs().max())
    close = bool(torch.allclose(steps, ref, rtol=tolerance, atol=tolerance))
    disagree = [r for r in range(all_seq.shape[0]) if not torch.equal(all_seq[r], all_seq[0])]
    generated = seq[cfg.prompt_len :]
    return {
        "ok": close and not disagree,
        "logits_match": close,
        "max_abs_diff": diff,
        "ranks_agree": not disagree,
        "disagreeing_ranks": disagree,
        "tokens": generated.tolist(),
        "prompt": seq[: cfg.prompt_len].tolist(),
        "reference_tokens_match": bool(torch.equal(ref.argmax(-1), generated)),
    }

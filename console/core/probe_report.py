"""The collective probe's JSON lines (console/probe/probe.py, from many ranks) -> a report.

Pure: takes lines, returns models and plain table rows. Tolerant of whatever else a rank
prints (warnings, CANN logs, launcher prefixes): a line counts when it holds a JSON object
with a ``"probe"`` key; everything else is counted as noise and skipped.

The table mirrors nccl-tests (size, count, type, time, algbw, busbw) and adds the slowest
rank and its time against the median of all ranks; a row is flagged ``slow`` only when that
rank is clearly slower (``SLOW_RATIO`` times the median and ``SLOW_MIN_EXTRA_US`` more), so
one slow card stands out and timer noise does not.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from console.core.diagnostic import Diagnostic, diagnostic
from console.core.errors import describe_validation_error

SLOW_RATIO = 1.5
"""A row's slowest rank is flagged ``slow`` when its time is at least this many times the
median of all ranks ..."""
SLOW_MIN_EXTRA_US = 5.0
"""... and at least this many microseconds above it (x1.01-1.05, or 2 us on a 3 us op, is
timer noise, not a slow card)."""
SLOW_LEGEND = (
    f"a rank counts as slow when it takes >= x{SLOW_RATIO:g} the median time of all "
    f"ranks and >= {SLOW_MIN_EXTRA_US:g} us more"
)

COLUMNS: list[tuple[str, str, Literal["left", "right"]]] = [
    ("op", "op", "left"),
    ("size", "size", "right"),
    ("count", "count", "right"),
    ("type", "type", "left"),
    ("time_us", "time (us)", "right"),
    ("algbw", "algbw (GB/s)", "right"),
    ("busbw", "busbw (GB/s)", "right"),
    ("slowest_rank", "slowest rank", "right"),
    ("slowest_us", "its time (us)", "right"),
    ("vs_median", "vs median", "right"),
]
"""(row key, header, justify) for every column of :meth:`ProbeReport.rows`."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")

    rank: int | None = None
    host: str | None = None


class CheckRecord(_Record):
    """One rank's exact-result check of one collective."""

    op: str
    ok: bool
    type: str = "float32"
    count: int = 0
    mismatches: int = 0
    first_bad: dict[str, Any] | None = None


class ResultRecord(_Record):
    """One (op, size) measurement, from rank 0, with every rank's own time."""

    op: str
    size: int = Field(description="Bytes of the larger buffer, as nccl-tests prints it")
    count: int
    type: str
    time_us: float = Field(description="Average over ranks (nccl-tests' default)")
    algbw: float = Field(description="GB/s: size / time")
    busbw: float = Field(description="GB/s: algbw times nccl-tests' bus factor for the op")
    per_rank_us: list[float] = Field(default_factory=list)
    world_size: int | None = None
    backend: str | None = None

    @property
    def median_us(self) -> float | None:
        return statistics.median(self.per_rank_us) if self.per_rank_us else None

    @property
    def slowest_rank(self) -> int | None:
        if not self.per_rank_us:
            return None
        return max(range(len(self.per_rank_us)), key=lambda r: self.per_rank_us[r])

    @property
    def slow_ratio(self) -> float | None:
        med = self.median_us
        if not med or self.slowest_rank is None:
            return None
        return self.per_rank_us[self.slowest_rank] / med

    @property
    def is_slow(self) -> bool:
        """The slowest rank is clearly slower than the rest: see :data:`SLOW_RATIO` and
        :data:`SLOW_MIN_EXTRA_US`."""
        ratio, med = self.slow_ratio, self.median_us
        if ratio is None or med is None or self.slowest_rank is None:
            return False
        extra = self.per_rank_us[self.slowest_rank] - med
        return ratio >= SLOW_RATIO and extra >= SLOW_MIN_EXTRA_US


class ErrorRecord(_Record):
    stage: str = "unknown"
    message: str = ""
    exit_code: int | None = None
    missing_ranks: list[int] = Field(default_factory=list)


class TpSmokeRecord(_Record):
    """Rank 0's verdict on the tensor-parallel smoke model."""

    ok: bool
    world_size: int | None = None
    tokens: list[int] = Field(default_factory=list)
    tokens_per_s: float | None = None
    per_rank_tokens_per_s: list[float] = Field(default_factory=list)
    max_abs_diff: float | None = None
    tolerance: float | None = None
    logits_match: bool | None = None
    ranks_agree: bool | None = None
    disagreeing_ranks: list[int] = Field(default_factory=list)


class RankStatus(BaseModel):
    rank: int
    host: str | None = None
    backend: str | None = None
    device_id: int | None = None
    world_size: int | None = None
    done: bool = False
    ok: bool | None = None


_KINDS: dict[str, type[_Record]] = {
    "check": CheckRecord,
    "result": ResultRecord,
    "error": ErrorRecord,
    "tp_smoke": TpSmokeRecord,
}


def parse_line(line: str) -> dict[str, Any] | None:
    """The probe record in ``line``, or None. Text before the first ``{`` (a launcher's
    ``[rank 3]`` prefix, a timestamp) is ignored."""
    start = line.find("{")
    if start < 0:
        return None
    try:
        obj = json.loads(line[start:])
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("probe"), str):
        return None
    return obj


class ProbeReport(BaseModel):
    """Everything the probe ranks said. Feed lines with :meth:`add_line` (streaming) or build
    it with :func:`parse_lines` / :func:`parse_streams`."""

    ranks: dict[int, RankStatus] = Field(default_factory=dict)
    checks: list[CheckRecord] = Field(default_factory=list)
    results: list[ResultRecord] = Field(default_factory=list)
    errors: list[ErrorRecord] = Field(default_factory=list)
    tp_smoke: TpSmokeRecord | None = None
    noise_lines: int = Field(0, description="Lines that were not probe records")
    malformed: list[str] = Field(default_factory=list, description="Probe records that did not fit their schema")

    # ------------------------------------------------------------ feeding

    def add_line(self, line: str, rank: int | None = None) -> None:
        """One output line; ``rank`` (from the launcher) wins over the record's own field."""
        obj = parse_line(line)
        if obj is None:
            self.noise_lines += 1
            return
        if rank is not None:
            obj["rank"] = rank
        self.add_record(obj)

    def add_record(self, obj: dict[str, Any]) -> None:
        kind = obj.get("probe")
        if not isinstance(kind, str):
            return
        if kind in ("start", "done"):
            self._status(obj, kind)
            return
        model = _KINDS.get(kind)
        if model is None:
            return  # a newer probe's record kind: ignore, do not fail
        try:
            rec = model.model_validate({k: v for k, v in obj.items() if k != "probe"})
        except ValidationError as exc:
            self.malformed.append(f"rank {obj.get('rank')}: {kind} record: {describe_validation_error(exc)}")
            return
        self._store(rec)

    def _store(self, rec: _Record) -> None:
        if isinstance(rec, CheckRecord):
            self.checks.append(rec)
        elif isinstance(rec, ErrorRecord):
            self.errors.append(rec)
        elif isinstance(rec, TpSmokeRecord):
            self.tp_smoke = rec
        elif isinstance(rec, ResultRecord):  # one row per (op, size, type): a repeat replaces
            self.results = [r for r in self.results if (r.op, r.size, r.type) != (rec.op, rec.size, rec.type)]
            self.results.append(rec)

    def _status(self, obj: dict[str, Any], kind: str) -> None:
        rank = obj.get("rank")
        if not isinstance(rank, int):
            self.malformed.append(f"{kind} record without a rank")
            return
        st = self.ranks.setdefault(rank, RankStatus(rank=rank))
        for key in ("host", "backend", "device_id", "world_size"):
            if obj.get(key) is not None:
                setattr(st, key, obj[key])
        if kind == "done":
            st.done = True
            st.ok = bool(obj.get("ok"))

    # ------------------------------------------------------------ verdicts

    @property
    def world_size(self) -> int | None:
        sizes = [s.world_size for s in self.ranks.values() if s.world_size]
        sizes += [r.world_size for r in self.results if r.world_size]
        return max(sizes) if sizes else None

    @property
    def failed_checks(self) -> list[CheckRecord]:
        return [c for c in self.checks if not c.ok]

    @property
    def missing_ranks(self) -> list[int]:
        """Ranks that never joined, as the probe ranks reported them."""
        return sorted({r for e in self.errors for r in e.missing_ranks})

    @property
    def unfinished_ranks(self) -> list[int]:
        """Ranks (of the known world size) that never printed their ``done`` record."""
        world = self.world_size or 0
        return [r for r in range(world) if not (r in self.ranks and self.ranks[r].done)]

    @property
    def failed(self) -> bool:
        """True when any check failed, any rank reported an error or a failure, or the TP
        smoke model disagreed."""
        return bool(
            self.failed_checks
            or self.errors
            or any(s.done and s.ok is False for s in self.ranks.values())
            or (self.tp_smoke is not None and not self.tp_smoke.ok)
        )

    @property
    def ops(self) -> list[str]:
        return list(dict.fromkeys(r.op for r in self.results))

    # ------------------------------------------------------------ tables

    def rows(self) -> list[dict[str, Any]]:
        """The nccl-tests-style table, one dict per (op, size), values formatted for display
        (keys: see :data:`COLUMNS`), plus ``slow`` (bool) for highlighting."""
        return [_row(r) for r in self.results]

    def slow_ranks(self) -> list[dict[str, Any]]:
        """Ranks flagged slow (:attr:`ResultRecord.is_slow`) in some row: in how many rows,
        their worst ratio to the median and worst extra microseconds; most often first."""
        stats: dict[int, dict[str, Any]] = {}
        for r in self.results:
            if not r.is_slow or r.slowest_rank is None:
                continue
            rank = r.slowest_rank
            s = stats.setdefault(rank, {"rank": rank, "rows": 0, "worst_vs_median": 0.0, "worst_extra_us": 0.0})
            s["rows"] += 1
            s["worst_vs_median"] = max(s["worst_vs_median"], round(r.slow_ratio or 0.0, 3))
            extra = r.per_rank_us[rank] - (r.median_us or 0.0)
            s["worst_extra_us"] = max(s["worst_extra_us"], round(extra, 1))
        return sorted(stats.values(), key=lambda s: (-s["rows"], -s["worst_vs_median"]))

    def check_rows(self) -> list[dict[str, Any]]:
        """Per op: how many ranks passed the exact-result check, and which failed."""
        by_op: dict[str, list[CheckRecord]] = {}
        for c in self.checks:
            by_op.setdefault(c.op, []).append(c)
        rows = []
        for op, recs in by_op.items():
            bad = sorted(c.rank for c in recs if not c.ok and c.rank is not None)
            rows.append(
                {
                    "op": op,
                    "ranks_ok": f"{len(recs) - len(bad)}/{len(recs)}",
                    "failed_ranks": ", ".join(map(str, bad)),
                    "ok": not bad,
                }
            )
        return rows

    def diagnostics(self) -> list[Diagnostic]:
        """Every problem the ranks reported, one per distinct message, the ranks in ``where``:
        errors (code ``rank_error``, ranks in ``where.ranks``), failed exact-result checks
        (``check_failed``, ``where.rank``), a failed TP smoke model (``tp_smoke_failed``) and
        malformed records (``malformed_record``)."""
        by_msg: dict[str, list[int | None]] = {}
        for e in self.errors:
            by_msg.setdefault(f"{e.stage}: {e.message}", []).append(e.rank)
        out = [
            diagnostic("error", "rank_error", msg, ranks=tuple(sorted({r for r in ranks if r is not None})))
            for msg, ranks in by_msg.items()
        ]
        out += [
            diagnostic(
                "error",
                "check_failed",
                f"{c.op} check failed: {c.mismatches} wrong values, first {c.first_bad}",
                rank=c.rank,
            )
            for c in self.failed_checks
        ]
        tp = self.tp_smoke
        if tp is not None and not tp.ok:
            out.append(
                diagnostic(
                    "error",
                    "tp_smoke_failed",
                    f"tp smoke model FAILED: max |logit diff| {tp.max_abs_diff} "
                    f"(tolerance {tp.tolerance}), ranks agree: {tp.ranks_agree}",
                )
            )
        out += [diagnostic("error", "malformed_record", f"malformed probe record: {m}") for m in self.malformed]
        return out

    def summary(self) -> list[str]:
        """Human lines: errors (folded by message), failed checks, the TP smoke verdict."""
        lines = []
        by_msg: dict[str, list[int | None]] = {}
        for e in self.errors:
            by_msg.setdefault(f"{e.stage}: {e.message}", []).append(e.rank)
        for msg, ranks in by_msg.items():
            known = sorted(r for r in ranks if r is not None)
            lines.append(f"error on {_ranks(known)}: {msg}" if known else f"error: {msg}")
        for c in self.failed_checks:
            lines.append(
                f"check failed: {c.op} on rank {c.rank} ({c.host}): {c.mismatches} wrong values, first {c.first_bad}"
            )
        if self.tp_smoke is not None:
            lines.append(_tp_line(self.tp_smoke))
        if self.unfinished_ranks and not self.missing_ranks:
            lines.append(f"no final record from {_ranks(self.unfinished_ranks)}")
        return lines


def _ranks(ranks: list[int]) -> str:
    return f"rank {ranks[0]}" if len(ranks) == 1 else "ranks " + ", ".join(map(str, ranks))


def format_size(n: int) -> str:
    """65536 -> '64K' (binary units, like the probe's --sizes)."""
    for unit, mult in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult}{unit}"
    return str(n)


def _row(r: ResultRecord) -> dict[str, Any]:
    slowest, ratio = r.slowest_rank, r.slow_ratio
    return {
        "op": r.op,
        "size": format_size(r.size),
        "count": str(r.count),
        "type": r.type,
        "time_us": f"{r.time_us:.1f}",
        "algbw": f"{r.algbw:.2f}",
        "busbw": f"{r.busbw:.2f}",
        "slowest_rank": "" if slowest is None else str(slowest),
        "slowest_us": "" if slowest is None else f"{r.per_rank_us[slowest]:.1f}",
        "vs_median": "" if ratio is None else f"x{ratio:.2f}",
        "slow": r.is_slow,
    }


def _tp_line(t: TpSmokeRecord) -> str:
    verdict = "ok" if t.ok else "FAILED"
    parts = [f"tp smoke {verdict}: {len(t.tokens)} tokens"]
    if t.tokens_per_s is not None:
        parts.append(f"{t.tokens_per_s:.1f} tokens/s")
    if t.max_abs_diff is not None:
        parts.append(f"max |logit diff| {t.max_abs_diff:.2e} (tolerance {t.tolerance})")
    if t.ranks_agree is False:
        parts.append(f"ranks {t.disagreeing_ranks} decoded different tokens")
    return ", ".join(parts)


def parse_lines(lines: Iterable[str], rank: int | None = None) -> ProbeReport:
    """One stream of lines (one rank's, or all ranks' interleaved)."""
    report = ProbeReport()
    for line in lines:
        report.add_line(line, rank)
    return report


def parse_streams(streams: Mapping[int, Iterable[str]]) -> ProbeReport:
    """Per-rank streams, as the launcher keeps them (rank -> lines)."""
    report = ProbeReport()
    for rank, lines in sorted(streams.items()):
        for line in lines:
            report.add_line(line, rank)
    return report

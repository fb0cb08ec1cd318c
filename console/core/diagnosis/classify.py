"""Log text -> causes, by the rule table (rules.py). Pure: the caller reads the files.

A line goes to the first rule that matches it; a rule's ``context`` regexes read the next
lines (LINK_ERROR_INFO tables, topology counts). Identical findings of one source are folded
into one cause with a count. A source where no rule matched gives one ``unknown_error`` cause
from its first error-looking line, if it has one.
"""

from __future__ import annotations

import calendar
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

from .model import Cause, EvidenceLine, LogSource
from .rules import RULES, Rule

MAX_LINES_PER_CAUSE = 4
CODE_RE = re.compile(r"\b(E[A-Z0-9]\d{4})\b")
# 2024-05-10-12:00:01.123.456 (plog, EI messages) and 2024-05-10 12:00:01,123 (Python logging)
TS_RE = re.compile(
    r"(?<!\d)(\d{4})-(\d{2})-(\d{2})[- T](\d{2}):(\d{2}):(\d{2})"
    r"(?:[.,](\d{1,6})(?:\.(\d{3}))?)?"
)
ERRORISH_RE = re.compile(
    r"(?:^|[\s:\]\)])(?:[A-Z]\w*Error|\w*Exception|ERROR|FATAL|Fatal|"
    r"[Ee]rror:|failed\b)"
)
SKIP_RE = re.compile(r"^\s*(?:Traceback \(most recent call last\)|File \"|\^+\s*$)")
IPISH_RE = re.compile(r"^(?:\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]*:[0-9a-fA-F:]+$")
INT_FIELDS = {
    "rank": "rank",
    "remote_rank": "remote_rank",
    "device_id": "device_id",
    "remote_device_id": "remote_device_id",
    "connected": "connected",
    "needed": "needed",
}


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    patterns: tuple[re.Pattern[str], ...]
    context: tuple[re.Pattern[str], ...]


_COMPILED = tuple(
    _Compiled(r, tuple(re.compile(p) for p in r.patterns), tuple(re.compile(p) for p in r.context)) for r in RULES
)


def parse_log_time(line: str) -> float | None:
    """The first timestamp of a line, as seconds since the epoch reading it as UTC (plogs carry
    no zone: only differences between times matter). None when the line has none."""
    m = TS_RE.search(line)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    try:
        base = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
        return None
    frac = 0.0
    if m.group(7):
        frac = int(m.group(7)) / 10 ** len(m.group(7))
        if m.group(8):  # plog: .mmm.uuu
            frac += int(m.group(8)) / 1e6
    return base + frac


class _SafeDict(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def fill(template: str, fields: dict[str, str]) -> str:
    """``{field}`` templates; unknown fields read ``?``."""
    try:
        return string.Formatter().vformat(template, (), _SafeDict(fields))
    except (ValueError, IndexError):
        return template


def _derived(fields: dict[str, str]) -> dict[str, str]:
    out = dict(fields)
    if "timeout_ms" in out and "timeout_s" not in out:
        out["timeout_s"] = f"{int(out['timeout_ms']) / 1000:g}"
    if "role" in out:
        out["role_name"] = {"0": "server", "1": "client"}.get(out["role"], out["role"])
    out["dev_text"] = f" on device {out['device_id']}" if "device_id" in out else ""
    out["timeout_text"] = f" after {out['timeout_s']} s" if "timeout_s" in out else ""
    out["python_text"] = f" ({out['python']})" if "python" in out else ""
    return out


def _context(compiled: _Compiled, lines: list[str], i: int) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines[i : i + 1 + compiled.rule.context_lines]:
        for pat in compiled.context:
            m = pat.search(line)
            if m:
                for k, v in m.groupdict().items():
                    if v is not None:
                        found.setdefault(k, v)
    return found


def _port(text: str | None) -> int | None:
    if text and text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    return None


def _build(rule: Rule, fields: dict[str, str], src: LogSource, line_no: int, line: str) -> Cause:
    f = _derived(fields)
    code_m = CODE_RE.search(line)
    values: dict[str, int] = {k: int(f[v]) for k, v in INT_FIELDS.items() if f.get(v, "").isdigit()}
    ips = [f[k] for k in ("ip", "expected_ip", "actual_ip", "host") if IPISH_RE.match(f.get(k, ""))]
    ports = [p for p in (_port(f.get("port")), _port(f.get("remote_port"))) if p is not None]
    timeout = None
    try:
        timeout = float(f["timeout_s"]) if "timeout_s" in f else None
    except ValueError:
        pass
    return Cause(
        cause=rule.cause,
        rule=rule.id,
        code=code_m.group(1) if code_m else rule.code,
        severity=rule.severity,
        phase=rule.phase,
        generic=rule.generic,
        title=fill(rule.title, f),
        explanation=fill(rule.explanation, f),
        next_check=fill(rule.next_check, f),
        server=src.server,
        rank=values.pop("rank", src.rank),
        local_ip=f.get("local_ip"),
        remote_ip=f.get("remote_ip"),
        ips=ips,
        ports=ports,
        timeout_s=timeout,
        ts=parse_log_time(line),
        fields=fields,
        lines=[EvidenceLine(source=src.name, line_no=line_no, text=line[:2000])],
        **values,
    )


def _key(c: Cause) -> tuple[object, ...]:
    return (c.rule, c.rank, tuple(sorted(c.fields.items())))


def _fallback(src: LogSource, lines: list[str]) -> Cause | None:
    for i, line in enumerate(lines):
        if not SKIP_RE.match(line) and ERRORISH_RE.search(line):
            return Cause(
                cause="unknown_error",
                rule="fallback",
                title=line.strip()[:300],
                explanation="No rule knows this error; it is the first error-looking line of the log.",
                next_check="read the lines around it",
                server=src.server,
                rank=src.rank,
                code=(m.group(1) if (m := CODE_RE.search(line)) else None),
                ts=parse_log_time(line),
                lines=[EvidenceLine(source=src.name, line_no=i + 1, text=line[:2000])],
            )
    return None


def classify(src: LogSource) -> list[Cause]:
    """Every cause the rules find in one log, folded, in order of first appearance."""
    lines = src.text.splitlines()
    found: dict[tuple[object, ...], Cause] = {}
    for i, line in enumerate(lines):
        if len(line) > 20000:  # a binary blob or a runaway line: not a log message
            continue
        for compiled in _COMPILED:
            m = next((m for p in compiled.patterns if (m := p.search(line))), None)
            if m is None:
                continue
            fields = {k: v.strip() for k, v in m.groupdict().items() if v is not None}
            if compiled.context:
                for k, v in _context(compiled, lines, i).items():
                    fields.setdefault(k, v)
            cause = _build(compiled.rule, fields, src, i + 1, line)
            old = found.get(_key(cause))
            if old is None:
                found[_key(cause)] = cause
            else:
                old.count += 1
                if len(old.lines) < MAX_LINES_PER_CAUSE:
                    old.lines.append(cause.lines[0])
            break
    if not found:
        fb = _fallback(src, lines)
        return [fb] if fb else []
    return list(found.values())


def classify_all(sources: Iterable[LogSource]) -> list[Cause]:
    return [c for src in sources for c in classify(src)]


def classify_text(text: str, name: str = "<text>") -> list[Cause]:
    return classify(LogSource(name=name, text=text))


def primary(causes: list[Cause]) -> Cause | None:
    """The cause to show first: the first specific one (wrappers such as ``OPS function error``
    only when nothing else matched)."""
    return next((c for c in causes if not c.generic), causes[0] if causes else None)

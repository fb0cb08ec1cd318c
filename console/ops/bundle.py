"""A support bundle of a run record: what a vendor or colleague needs, with no secrets.

``<run-id>/SUMMARY.txt`` (on top), ``diagnosis.txt`` and ``diagnosis.json``, ``plan.json``,
``events.jsonl`` and ``ranktable.json`` (secrets masked), ``discovery.json`` and ``ping.json``
when present, ``versions.txt`` (per server), ``logs/rank-<r>.log`` (tails) and ``evidence/``
(bounded). Every text is masked: env values of secret-looking names (also in older records that
stored them in clear), ``NAME=value`` assignments of such names, PEM private-key blocks and
common token shapes (``Authorization: Bearer ...``, ``hf_...``);
files named like private keys are left out. Files are read without following symbolic links,
and the tarball is written to a private temporary file, then renamed into place.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from console.core.diagnosis.model import fold_ints
from console.core.diagnosis.text import render
from console.core.errors import ConsoleError, InputError
from console.core.secrets import mask_document as _mask_document
from console.core.secrets import mask_text as _mask_text
from console.core.secrets import mask_token_shapes, secret_values
from console.ops.diagnosis_files import (
    DiagnosisInput,
    diagnose_path,
    read_bounded,
    read_events,
    read_json,
    walk_files,
)

LOG_TAIL = 64 * 1024
EVIDENCE_FILE = 256 * 1024
EVIDENCE_TOTAL = 16 * 1024 * 1024
KEY_NAME = re.compile(
    r"(^id_(rsa|dsa|ecdsa|ed25519)(_sk)?$)|\.(pem|key|p12|pfx|ppk)$|"
    r"(^|[._-])(private|secret)",
    re.IGNORECASE,
)
PRIVATE_KEY = b"PRIVATE KEY-----"


def mask_text(text: str, values: set[str]) -> str:
    """``console.core.secrets.mask_text``, then common token shapes (``Authorization: Bearer
    ...``, ``hf_...``) whatever their name."""
    return mask_token_shapes(_mask_text(text, values))


def mask_document(doc: Any, values: set[str]) -> Any:
    """``console.core.secrets.mask_document``, then token shapes in every string."""
    return _shapes(_mask_document(doc, values))


def _shapes(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _shapes(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_shapes(v) for v in doc]
    return mask_token_shapes(doc) if isinstance(doc, str) else doc


def _versions(inp: DiagnosisInput, events: list[dict[str, Any]]) -> str:
    lines = []
    if inp.inventory is not None:
        for s in inp.inventory.servers:
            lines.append(
                f"{s.host}: hostname={s.hostname or '?'} product={s.product or '?'} "
                f"driver={s.driver_version or '?'} cann={s.cann_version or '?'}"
            )
    for ev in events:
        if ev.get("event") == "agent.hello":
            lines.append(f"{ev.get('server')}: host agent on {ev.get('host')} python {ev.get('python')}")
    return "\n".join(lines) + "\n" if lines else "no discovery or agent versions in this record\n"


def _summary(
    run: Path, diag_text: list[str], inp: DiagnosisInput, names: list[str], left_out: list[str], plan: Any
) -> str:
    servers = sorted({p.server for p in inp.places})
    out = [
        f"Support bundle of run {run.name}",
        f"written {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"world size {len(inp.places) or '?'} on {len(servers)} server(s): {', '.join(servers)}",
    ]
    if isinstance(plan, dict) and plan.get("profile"):
        out.append(f"profile {plan.get('profile')}")
    out += ["", "DIAGNOSIS", *diag_text, "", "FILES", *(f"  {n}" for n in names)]
    silent = sorted(
        {p.rank for p in inp.places}
        - {int(m.group(1)) for n in names if (m := re.fullmatch(r"logs/rank-(\d+)\.log", n))}
    )
    if silent:
        out.append(f"  {'rank' if len(silent) == 1 else 'ranks'} {fold_ints(silent)} printed nothing (no log)")
    if left_out:
        out += ["", "LEFT OUT", *(f"  {n}" for n in left_out)]
    out += [
        "",
        (
            "Secret-looking env values (TOKEN, SECRET, PASSWORD, PASSWD, KEY, CREDENTIAL, "
            "AUTH; not MASTER_*) and private keys are masked or left out."
        ),
    ]
    return "\n".join(out) + "\n"


def _evidence(run: Path, secrets: set[str]) -> tuple[list[tuple[str, bytes]], list[str]]:
    root = run / "evidence"
    entries: list[tuple[str, bytes]] = []
    left_out: list[str] = []
    if not root.is_dir() or root.is_symlink():
        return entries, left_out
    total = 0
    for path in walk_files(root):
        rel = str(path.relative_to(run))
        if KEY_NAME.search(path.name):
            left_out.append(f"{rel} (looks like a key)")
            continue
        data = read_bounded(path, 0, EVIDENCE_FILE)
        if data is None or PRIVATE_KEY in data:
            left_out.append(f"{rel} ({'not a regular file' if data is None else 'holds a private key'})")
            continue
        if total + len(data) > EVIDENCE_TOTAL:
            left_out.append(f"{rel} (bundle evidence limit reached)")
            continue
        total += len(data)
        entries.append((rel, mask_text(data.decode("utf-8", "replace"), secrets).encode()))
    return entries, left_out


def _text(path: Path, secrets: set[str], limit: int) -> bytes | None:
    data = read_bounded(path, 0, limit) if path.exists() else None
    return None if data is None else mask_text(data.decode("utf-8", "replace"), secrets).encode()


def _entries(
    run: Path,
    diag_text: list[str],
    diag_doc: Any,
    plan: Any,
    events: list[dict[str, Any]],
    secrets: set[str],
    extra: dict[str, Path | None],
) -> list[tuple[str, bytes]]:
    body: list[tuple[str, bytes]] = [
        ("diagnosis.txt", ("\n".join(diag_text) + "\n").encode()),
        ("diagnosis.json", json.dumps(diag_doc, indent=2, ensure_ascii=False).encode()),
    ]
    if plan is not None:
        body.append(("plan.json", json.dumps(mask_document(plan, secrets), indent=2).encode()))
    if events:
        body.append(("events.jsonl", "".join(json.dumps(mask_document(e, secrets)) + "\n" for e in events).encode()))
    for name in ("ranktable.json", "discovery.json", "ping.json"):
        src = run / name if (run / name).exists() else extra.get(name)
        data = _text(src, secrets, 32 << 20) if src else None
        if data is not None:
            body.append((name, data))
    for path in sorted(run.glob("rank-*.log")):
        data = _text(path, secrets, LOG_TAIL)
        if data is not None:
            body.append((f"logs/{path.name}", data))
    return body


def write_bundle(
    run: str | Path,
    output: str | Path | None = None,
    *,
    discovery: str | Path | None = None,
    ping: str | Path | None = None,
) -> Path:
    """Pack the run record ``run`` into ``output`` (default ``./<run-id>.bundle.tar.gz``)."""
    run = Path(run)
    if not ((run / "events.jsonl").exists() or (run / "plan.json").exists()):
        raise InputError("not a run record (no events.jsonl or plan.json)", path=str(run), hint="give runs/<run-id>")
    diag, inp = diagnose_path(run, discovery=discovery, ping=ping)
    plan = read_json(run / "plan.json") if (run / "plan.json").exists() else None
    events = read_events(run / "events.jsonl") if (run / "events.jsonl").exists() else []
    secrets = secret_values(plan) | secret_values(events)
    out = Path(output) if output else Path(f"{run.resolve().name}.bundle.tar.gz")
    if out.is_dir():
        raise InputError("the output is a folder; give a file name", path=str(out))
    if not out.parent.is_dir():
        raise InputError("the output's folder does not exist", path=str(out.parent))
    diag_text = [mask_text(line, secrets) for line in render(diag, lines=4)]
    body = _entries(
        run,
        diag_text,
        mask_document(diag.to_json(), secrets),
        plan,
        events,
        secrets,
        {"discovery.json": Path(discovery) if discovery else None, "ping.json": Path(ping) if ping else None},
    )
    body.append(("versions.txt", _versions(inp, events).encode()))
    evidence, left_out = _evidence(run, secrets)
    summary = _summary(run, diag_text, inp, [n for n, _ in body + evidence], left_out, plan)
    fd, tmp = tempfile.mkstemp(prefix=".bundle-", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
            now = int(time.time())
            for name, data in [("SUMMARY.txt", summary.encode()), *body, *evidence]:
                info = tarfile.TarInfo(f"{run.resolve().name}/{name}")
                info.size, info.mode, info.mtime = len(data), 0o644, now
                tar.addfile(info, io.BytesIO(data))
        os.replace(tmp, out)
    except OSError as exc:
        raise ConsoleError("cannot write the bundle", exc.strerror or str(exc), path=str(out)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out

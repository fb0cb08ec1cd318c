"""A diagnosis as plain text lines (the CLI, the bundle's diagnosis.txt and SUMMARY.txt). Pure."""

from __future__ import annotations

from .model import Diagnosis

SHOWN_LINES = 2


def render(diag: Diagnosis, *, lines: int = SHOWN_LINES) -> list[str]:
    """The diagnosis as text lines: headline, causes with their evidence, links."""
    out = [diag.headline]
    if not diag.causes:
        return out
    out.append("")
    out.append("causes (first marked *):")
    for i, c in enumerate(diag.causes):
        mark = "*" if i == diag.first else " "
        code = f"{c.code} " if c.code else ""
        count = f" (x{c.count})" if c.count > 1 else ""
        victim = " [victim]" if c.rank in diag.victims and i != diag.first else ""
        out.append(f"{mark} [{c.where() or '?'}] {code}{c.cause}: {c.title}{count}{victim}")
        for ln in c.lines[:lines]:
            out.append(f"      {ln.source}:{ln.line_no}: {ln.text.strip()[:200]}")
        if i == diag.first:
            out.append(f"      next: {c.next_check}")
    if diag.links:
        out.append("")
        out.append("what the console knows:")
        for link in diag.links:
            out.append(f"  - {link.message}" + (f"   [{link.command}]" if link.command else ""))
    return out

"""One type for everything the console finds wrong or worth saying: :class:`Diagnostic`.

Discovery findings, rank-table problems, launch preflight checks, probe problems and layout
warnings are all ``Diagnostic(severity, code, message, where)``. ``code`` is a stable id
(``link_down``, ``rank_id_interleaved``, ``npu_busy``...); ``where`` says what it is about, as
fields (host, device, JSON path, rank, line and column), never only in the prose.

The ``--json`` documents predate this type and are an API, so each keeps its own shape:
:data:`FindingField` stores a Diagnostic in the findings shape
(``{"severity", "code", "message", "host", "device_id"}``) and reads that shape back;
``console.core.ranktable.problems.problem_json`` writes the rank-table problem shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


class Where(BaseModel):
    """What a diagnostic is about. Every field is optional; set the ones that apply."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str | None = Field(None, description="A host, or a NodeSet of hosts (127.0.0.[11-12])")
    device: int | None = Field(None, description="NPU device id (hccn_tool -i N)")
    path: str | None = Field(None, description='JSON path, e.g. "server_list[1].device[3].device_ip"')
    server_index: int | None = Field(None, description="The path's server: its index i in server_list[i]")
    device_index: int | None = Field(None, description="The path's device: its index j in server_list[i].device[j]")
    field: str | None = Field(None, description="The field the path ends at in that server or device (device_ip)")
    rank: int | None = Field(None, description="One rank")
    ranks: tuple[int, ...] = Field((), description="Several ranks")
    line: int | None = Field(None, description="1-based line in a text (a file, the raw JSON)")
    column: int | None = Field(None, description="1-based column on that line")

    def __str__(self) -> str:
        parts = [self.host or ""]
        if self.device is not None:
            parts.append(f"device {self.device}")
        if self.path:
            parts.append(self.path)
        if self.rank is not None:
            parts.append(f"rank {self.rank}")
        if self.ranks:
            parts.append(("rank " if len(self.ranks) == 1 else "ranks ") + ", ".join(map(str, self.ranks)))
        if self.line is not None:
            parts.append(f"line {self.line}" + (f", column {self.column}" if self.column is not None else ""))
        return " ".join(p for p in parts if p)


NOWHERE = Where()


class Diagnostic(BaseModel):
    """A problem or notable fact: ``str()`` gives ``WHERE: MESSAGE`` (or the message alone)."""

    model_config = ConfigDict(frozen=True)

    severity: Severity
    code: str = Field(description="Stable identifier, e.g. tls_mismatch, link_down, rank_id_interleaved")
    message: str
    where: Where = NOWHERE

    def __str__(self) -> str:
        where = str(self.where)
        return f"{where}: {self.message}" if where else self.message

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def diagnostic(severity: Severity, code: str, message: str, **where: Any) -> Diagnostic:
    """Shorthand: ``diagnostic("error", "link_down", "link DOWN", host="h1", device=3)``."""
    return Diagnostic(severity=severity, code=code, message=message, where=Where(**where) if where else NOWHERE)


def errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]


# ---------------------------------------------------------------- the findings JSON shape


def finding_json(d: Diagnostic) -> dict[str, Any]:
    """``{"severity", "code", "message", "host", "device_id"}``: ``discover --json``'s findings."""
    return {
        "severity": d.severity,
        "code": d.code,
        "message": d.message,
        "host": d.where.host,
        "device_id": d.where.device,
    }


def _finding_in(value: Any) -> Any:
    """Accept the findings shape (an inventory saved by ``discover --json``) as well as a Diagnostic."""
    if isinstance(value, dict) and "where" not in value and ("host" in value or "device_id" in value):
        where = {"host": value.get("host"), "device": value.get("device_id")}
        rest = {k: v for k, v in value.items() if k not in ("host", "device_id")}
        return {**rest, "where": where}
    return value


FindingField = Annotated[Diagnostic, BeforeValidator(_finding_in), PlainSerializer(finding_json)]
"""A Diagnostic kept in (and read from) the findings shape of the ``--json`` documents."""

"""What the Nodes pane shows, computed from an Inventory: rows, outliers, issues.

No textual here (only rich Text), so it is testable and reusable by other views.
Colours: red = broken (unreachable, link down, health alarm), yellow = an outlier
(differs from the rest of the cluster) or a warning.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ClusterShell.NodeSet import NodeSet, NodeSetException
from rich.text import Text

from console.core.diagnostic import Diagnostic
from console.core.inventory import CommandFailure, Device, Inventory, Server
from console.ops.discovery import DiscoveryDone, DiscoveryEvent, ServerDone, ServerStarted
from console.ui.models.problems import ProblemItem

RED = "bold red"
YELLOW = "yellow"
DIM = "dim"
SEVERITY_STYLE = {"error": RED, "warning": YELLOW, "info": ""}

SERVER_COLUMNS = ("host", "server_id", "hostname", "reachable", "cards", "health", "driver", "CANN", "findings")
DEVICE_COLUMNS = (
    "device",
    "card",
    "device_ip",
    "netmask",
    "link",
    "net_health",
    "TLS",
    "health",
    "busy",
    "switch port",
)


class NodesModel:
    """The servers as the Nodes pane shows them while discovery runs and after.

    ``start(hosts, known)`` then ``apply(event)`` for every ``DiscoveryEvent``;
    ``inventory`` is what is shown, ``final`` once ``DiscoveryDone`` arrived."""

    def __init__(self, inventory: Inventory | None = None) -> None:
        self.inventory = inventory or Inventory()
        self.pending: set[str] = set()
        self.total = 0
        self.running = False
        self.final: Inventory | None = None
        self.changes = 0

    def show(self, inventory: Inventory | None) -> None:
        """The app's inventory changed (or was cleared): show it unless discovery runs."""
        if not self.running:
            self.inventory = inventory or Inventory()
            self.changes += 1

    def start(self, hosts: list[str], known: Inventory | None = None) -> None:
        known = known or Inventory()
        self.inventory = Inventory(servers=[known.server(h) or Server(host=h) for h in hosts])
        self.pending, self.total = set(hosts), len(hosts)
        self.running, self.final = True, None
        self.changes += 1

    def apply(self, event: DiscoveryEvent) -> None:
        match event:
            case ServerStarted(host=host):
                if host in self.pending:
                    return  # already shown as pending
                self.pending.add(host)
            case ServerDone(server=server):
                self._put(server)
                self.pending.discard(server.host)
            case DiscoveryDone(inventory=inventory):
                self.inventory = self.final = inventory
                self.pending.clear()
        self.changes += 1

    def end(self, error: BaseException | None = None, cancelled: bool = False) -> None:
        self.pending.clear()
        self.running = False
        self.changes += 1

    def _put(self, server: Server) -> None:
        servers = list(self.inventory.servers)
        index = next((i for i, s in enumerate(servers) if s.host == server.host), None)
        if index is None:
            servers.append(server)
        else:
            servers[index] = server
        self.inventory = self.inventory.model_copy(update={"servers": servers})

    @property
    def progress(self) -> str:
        if not self.running:
            return ""
        return f"discovering {self.total - len(self.pending)}/{self.total}"

    def host_of(self, server_id: str) -> str | None:
        """The host (as given) of the server with this server_id (or host)."""
        return next((s.host for s in self.inventory.servers if server_id in (s.server_id, s.host)), None)


def _majority(values: list[Any]) -> Any:
    values = [v for v in values if v is not None]
    if not values:
        return None
    (value, count), *rest = [*Counter(values).most_common(2), (None, 0)]
    return value if count > rest[0][1] else None


def _cell(value: Any, style: str = "") -> Text:
    if value is None or value == "":
        return Text("-", style=DIM)
    return Text(str(value), style=style)


def _host_in(host: str, expr: str | None) -> bool:
    if expr is None:
        return False
    if expr == host:
        return True
    try:
        return host in NodeSet(expr)
    except NodeSetException:
        return False


def server_findings(inv: Inventory, server: Server) -> list[Diagnostic]:
    return [
        f
        for f in inv.findings
        if _host_in(server.host, f.where.host) or (server.server_id and _host_in(server.server_id, f.where.host))
    ]


def health_summary(server: Server) -> Text:
    counts = Counter(d.health or "?" for d in server.devices)
    if not counts:
        return _cell(None)
    bad = any(h not in ("OK", "Warning") for h in counts)
    style = RED if bad else YELLOW if "Warning" in counts else ""
    return Text(", ".join(f"{n} {h}" for h, n in sorted(counts.items())), style=style)


class RowContext:
    """What every server row compares with, computed once per redraw (not once per row:
    that made a redraw of 1,024 rows cost a million comparisons): the cluster's majority
    driver / CANN / card count, and each finding's hosts expanded once."""

    def __init__(self, inv: Inventory) -> None:
        servers = [s for s in inv.servers if s.reachable]
        self.common = {k: _majority([getattr(s, k) for s in servers]) for k in ("driver_version", "cann_version")}
        self.cards = _majority([len(s.devices) for s in servers])
        self._by_name: dict[str, list[int]] = {}
        self._findings = list(inv.findings)
        for i, f in enumerate(self._findings):
            expr = f.where.host
            if expr is None:
                continue
            try:
                names = set(NodeSet(expr)) | {expr}
            except NodeSetException:
                names = {expr}
            for name in names:
                self._by_name.setdefault(name, []).append(i)
        self.key = (tuple(self.common.items()), self.cards, tuple(map(id, self._findings)))
        """Equal keys: every row that did not change renders the same."""

    def findings(self, server: Server) -> list[Diagnostic]:
        """As ``server_findings``: those naming the server's host or server_id, in order."""
        found = set(self._by_name.get(server.host, ()))
        if server.server_id:
            found.update(self._by_name.get(server.server_id, ()))
        return [self._findings[i] for i in sorted(found)]


def server_row(inv: Inventory, server: Server, pending: bool = False, context: RowContext | None = None) -> list[Text]:
    ctx = context or RowContext(inv)
    common, cards = ctx.common, ctx.cards

    def outlier(key: str) -> Text:
        value = getattr(server, key)
        odd = common[key] is not None and value is not None and value != common[key]
        return _cell(value, YELLOW if odd else "")

    found = ctx.findings(server)
    worst = next((s for s in ("error", "warning") if any(f.severity == s for f in found)), "")
    if pending:
        reach = Text("…", style=DIM)
    elif server.reachable:
        reach = Text("yes")
    else:
        reach = Text("no" if server.error or server.failures else "-", style=RED)
    n_cards = len(server.devices) if server.reachable else None
    return [
        Text(server.host),
        _cell(server.server_id),
        _cell(server.hostname),
        reach,
        _cell(n_cards, YELLOW if cards is not None and n_cards not in (None, cards) else ""),
        health_summary(server),
        outlier("driver_version"),
        outlier("cann_version"),
        Text(str(len(found)), style=SEVERITY_STYLE.get(worst, "")),
    ]


def tls_majority(inv: Inventory) -> Any:
    return _majority([d.tls for s in inv.servers for d in s.devices])


_UNSET: Any = object()


def device_row(inv: Inventory, server: Server, dev: Device, tls_common: Any = _UNSET) -> list[Text]:
    if tls_common is _UNSET:
        tls_common = tls_majority(inv)
    link_style = RED if dev.link and dev.link.upper() != "UP" else ""
    net_style = RED if dev.net_health and dev.net_health != "Success" else ""
    tls_style = YELLOW if tls_common is not None and dev.tls not in (None, tls_common) else ""
    health_style = "" if dev.health in (None, "OK") else YELLOW if dev.health == "Warning" else RED
    busy = ",".join(map(str, dev.busy_pids)) if dev.busy_pids else None
    return [
        Text(str(dev.device_id)),
        _cell(dev.card),
        _cell(dev.device_ip, "" if dev.device_ip else RED),
        _cell(dev.netmask),
        _cell(dev.link, link_style),
        _cell(dev.net_health, net_style),
        _cell(dev.tls, tls_style),
        _cell(dev.health, health_style),
        _cell(busy, YELLOW),
        _cell(lldp_text(dev)),
    ]


def lldp_text(dev: Device) -> str | None:
    """``switch port`` from ``-lldp -g`` (none: LLDP off or no answer, not an error)."""
    return " ".join(x for x in (dev.lldp_switch, dev.lldp_port) if x) or None


def failure_detail(host: str, failure: CommandFailure, device_id: int | None = None) -> str:
    where = f"host: {host}" + (f"   device: {device_id}" if device_id is not None else "")
    status = "none (timed out or killed)" if failure.exit_status is None else failure.exit_status
    return (
        f"{where}\n$ {failure.command}\nexit status: {status}\n"
        f"message: {failure.message or '-'}\n--- raw output ---\n{failure.output}"
    )


def issues(inv: Inventory) -> list[ProblemItem]:
    """Findings first (folded across servers), then every failed command and unreachable host.
    Each item's ``target`` is its host (or NodeSet of hosts)."""
    out = [
        ProblemItem(
            f.severity,
            f.code,
            f.message,
            f.where.host or "*",
            f"{f.severity.upper()} [{f.code}]\nhost: {f.where.host or '-'}"
            + (f"   device: {f.where.device}" if f.where.device is not None else "")
            + f"\n{f.message}",
            f.where.host,
        )
        for f in inv.findings
    ]
    for s in inv.servers:
        if not s.reachable and s.error:
            out.append(ProblemItem("error", "unreachable", "unreachable", s.host, f"host: {s.host}\n{s.error}", s.host))
        for fail in s.failures:
            out.append(
                ProblemItem(
                    "error",
                    "command_failed",
                    fail.message or fail.command,
                    s.host,
                    failure_detail(s.host, fail),
                    s.host,
                )
            )
        for d in s.devices:
            for fail in d.failures:
                out.append(
                    ProblemItem(
                        "error",
                        "command_failed",
                        fail.message or fail.command,
                        f"{s.host} dev {d.device_id}",
                        failure_detail(s.host, fail, d.device_id),
                        s.host,
                    )
                )
    return out

"""validate(table): every problem HCCL, MindIE and ATB-Models would refuse or trip over.

Rules and wording come from ascend.md §3.5 and §6 rows 3-7 (HCCL EI0001/EI0004/EI0014, MindIE
``ranktable_config.cpp``, ATB-Models ``env.py``). Errors break a launch; warnings are what one
consumer (usually MindIE Service) would refuse or what is risky. All problems are returned,
sorted by path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from console.core.diagnostic import Diagnostic
from console.core.ranktable.model import SUPPORTED_VERSIONS, RankDevice, RankTable
from console.core.ranktable.problems import dev, error, sort_problems, srv, warning
from console.core.ranktable.rules import check_device_ips, check_ranks, missing_on_devices
from console.core.targets import host_problem, is_ip, quoted

MINDIE_SERVERS = (2, 60)
MINDIE_MAX_DEVICES = 32
MAX_DEVICE_ID = 63
MAX_PHYSICAL_DEVICE = 15
PORT_FIELDS = ("device_port", "host_port", "backup_device_port")


def validate(table: RankTable) -> list[Diagnostic]:
    """Every problem in ``table``, sorted by path (errors first on the same path)."""
    problems: list[Diagnostic] = []
    for check in (_check_header, _check_servers, _check_devices, check_device_ips, check_ranks, _check_v12):
        problems.extend(check(table))
    return sort_problems(problems)


def _check_header(t: RankTable) -> Iterator[Diagnostic]:
    if t.status is None:
        yield error("status", "status", 'status is missing: HCCL needs "completed"')
    elif t.status == "initializing":
        yield error(
            "status",
            "status",
            'status is "initializing": the table is not usable yet '
            '(the controller writes "completed" once every server is collected)',
        )
    elif t.status != "completed":
        yield error("status", "status", f'status is "{t.status}": HCCL needs "completed"')
    if t.version is None:
        yield error("version", "version", 'version is missing: use "1.0" (or "1.2" for A3 SuperPoD)')
    elif t.version not in SUPPORTED_VERSIONS:
        yield error("version", "version", f'version "{t.version}" is not supported: use "1.0" or "1.2"')
    elif t.version == "1.0" and (t.super_pod_list or any(d.super_device_id is not None for *_, d in t.devices())):
        yield warning(
            "version",
            "super_pod_ignored",
            'version "1.0" ignores super_device_id and super_pod_list: set version "1.2" for A3 SuperPoD mode',
        )
    yield from _check_server_count(t)
    numbers = [p for p in t.json_numbers if p != "server_count"]
    if numbers:
        yield warning(
            numbers[0],
            "json_number",
            f"{len(numbers)} number field(s) are JSON numbers (the first is "
            'here); HCCL\'s format and MindIE use strings like "0"; saving writes strings',
        )


def _check_server_count(t: RankTable) -> Iterator[Diagnostic]:
    n = len(t.server_list)
    if t.server_count is None:
        if t.version != "1.2":
            yield error("server_count", "server_count", f'server_count is missing (required in version 1.0): "{n}"')
        return
    if t.server_count != n:
        yield error(
            "server_count",
            "server_count",
            f"server_count is {t.server_count} but server_list has {n} "
            "server(s) (MindIE: server_count is not equal to server_list length)",
        )
    if "server_count" in t.json_numbers:
        yield warning(
            "server_count",
            "server_count_number",
            "server_count is a JSON number: MindIE reads it as a "
            f'string (get<std::string> then stoi) and fails; write "{t.server_count}" (saving does)',
        )
    low, high = MINDIE_SERVERS
    if t.server_count > high:
        yield warning(
            "server_count",
            "server_count_range",
            f"server_count {t.server_count} is above {high}: MindIE multi-node needs server_count in [{low}, {high}]",
        )


def _check_servers(t: RankTable) -> Iterator[Diagnostic]:
    if not t.server_list:
        yield error("server_list", "server_list_empty", "server_list is empty: a rank table needs at least one server")
        return
    seen: dict[str, int] = {}
    for i, server in enumerate(t.server_list):
        sid, path = server.server_id, srv(i, "server_id")
        if not sid.strip():
            yield error(path, "server_id_empty", "server_id is empty")
        elif bad := host_problem(sid):
            yield error(
                path,
                "server_id_invalid",
                f"server_id {quoted(sid)} {bad}: a server_id must be an IP "
                "address or a host name (it is also the SSH target of a launch)",
            )
        elif len(sid) > 64:
            yield error(path, "server_id_length", f"server_id is {len(sid)} characters long: HCCL allows at most 64")
        elif sid in seen:
            yield error(path, "server_id_duplicate", f'server_id "{sid}" is also {srv(seen[sid])}: must be unique')
        else:
            seen[sid] = i
            if not is_ip(sid):
                yield warning(
                    path,
                    "server_id_not_ip",
                    f'server_id "{sid}" is not an IP address: HCCL accepts '
                    "names, but ATB-Models and MindIE need the server's IP (server_id is invalid)",
                )
        for field in ("host_ip", "container_ip"):
            value = getattr(server, field)
            if value is not None and not is_ip(value):
                yield warning(srv(i, field), "ip_invalid", f'{field} "{value}" is not an IP address')
        if not server.device:
            yield error(srv(i, "device"), "device_list_empty", f'server "{sid}" has no devices')
        elif len(server.device) > MINDIE_MAX_DEVICES:
            yield warning(
                srv(i, "device"),
                "device_count",
                f"{len(server.device)} devices: MindIE allows [1, {MINDIE_MAX_DEVICES}] per server",
            )
    yield from _check_device_counts(t)
    yield from _check_container_ips(t)


def _check_device_counts(t: RankTable) -> Iterator[Diagnostic]:
    counts = [len(s.device) for s in t.server_list]
    common = Counter(c for c in counts if c).most_common(1)
    if not common:
        return
    usual = common[0][0]
    for i, count in enumerate(counts):
        if count and count != usual:
            yield warning(
                srv(i, "device"),
                "device_count",
                f"{count} devices here, {usual} on the other servers: "
                f"MindIE needs the same number of devices on every server",
            )


def _check_container_ips(t: RankTable) -> Iterator[Diagnostic]:
    if len(t.server_list) < 2:
        return
    missing = [i for i, s in enumerate(t.server_list) if not s.container_ip]
    why = "MindIE Service needs it on every server to find the local entry (usually the server's own IP)"
    if len(missing) == len(t.server_list):
        yield warning("server_list", "container_ip_missing", f"no server has container_ip: {why}")
        return
    for i in missing:
        yield warning(srv(i, "container_ip"), "container_ip_missing", f"container_ip is missing: {why}")


def _check_devices(t: RankTable) -> Iterator[Diagnostic]:
    for i, server in enumerate(t.server_list):
        ids: dict[int, str] = {}
        host_ports: dict[int, str] = {}
        for j, d in enumerate(server.device):
            path = dev(i, j, "device_id")
            if not 0 <= d.device_id <= MAX_DEVICE_ID:
                yield error(
                    path,
                    "device_id_range",
                    f"device_id {d.device_id} is out of range [0, {MAX_DEVICE_ID}] (the physical id, ls /dev/davinci*)",
                )
            elif d.device_id > MAX_PHYSICAL_DEVICE:
                yield warning(
                    path,
                    "device_id_large",
                    f"device_id {d.device_id}: Atlas A2/A3 servers have at most "
                    f"{MAX_PHYSICAL_DEVICE + 1} devices (ids 0-{MAX_PHYSICAL_DEVICE}); "
                    "check ls /dev/davinci*",
                )
            if d.device_id in ids:
                yield error(
                    path,
                    "device_id_duplicate",
                    f"device_id {d.device_id} is also {ids[d.device_id]}: each device of a server appears once",
                )
            else:
                ids[d.device_id] = path
            yield from _check_ports(i, j, d, host_ports)


def _check_ports(i: int, j: int, d: RankDevice, host_ports: dict[int, str]) -> Iterator[Diagnostic]:
    for field in PORT_FIELDS:
        port = getattr(d, field)
        if port is None:
            continue
        path = dev(i, j, field)
        if not 1 <= port <= 65535:
            yield error(path, "port_range", f"{field} {port} is out of range [1, 65535]")
        elif port < 1024:
            yield warning(path, "port_privileged", f"{field} {port} is a system port: HCCL docs say avoid 1-1023")
        if field == "host_port":
            if port in host_ports:
                yield error(
                    path,
                    "host_port_duplicate",
                    f"host_port {port} is also {host_ports[port]}: host ports must be unique on a server",
                )
            else:
                host_ports[port] = path


def _check_v12(t: RankTable) -> Iterator[Diagnostic]:
    if t.version != "1.2":
        return
    yield from missing_on_devices(
        t,
        "super_device_id",
        "super_device_id_missing",
        'version "1.2" needs it on every device (HCCL EI0004: '
        "[RanktableCheck] super_device_id[] is invalid); SDID from npu-smi spod-info",
    )
    pods = {s.server_id: pod.super_pod_id for pod in t.super_pod_list or () for s in pod.server_list}
    seen: dict[tuple[str | None, int], str] = {}
    for i, j, server, d in t.devices():
        if d.super_device_id is None:
            continue
        key = (pods.get(server.server_id), d.super_device_id)
        if key in seen:
            yield error(
                dev(i, j, "super_device_id"),
                "super_device_id_duplicate",
                f"super_device_id {d.super_device_id} is also {seen[key]} in the same SuperPoD",
            )
        else:
            seen[key] = dev(i, j, "super_device_id")
    yield from _check_super_pod_list(t)


def _check_super_pod_list(t: RankTable) -> Iterator[Diagnostic]:
    if t.super_pod_list is None:
        yield error(
            "super_pod_list",
            "super_pod_list_missing",
            'super_pod_list is missing: version "1.2" lists every server in a SuperPoD (or use version "1.0")',
        )
        return
    servers = {s.server_id for s in t.server_list}
    pod_ids: dict[str, int] = {}
    listed: dict[str, str] = {}
    for k, pod in enumerate(t.super_pod_list):
        if pod.super_pod_id in pod_ids:
            yield error(
                f"super_pod_list[{k}].super_pod_id",
                "super_pod_id_duplicate",
                f'super_pod_id "{pod.super_pod_id}" is also super_pod_list[{pod_ids[pod.super_pod_id]}]',
            )
        else:
            pod_ids[pod.super_pod_id] = k
        for m, entry in enumerate(pod.server_list):
            path = f"super_pod_list[{k}].server_list[{m}].server_id"
            if entry.server_id not in servers:
                yield error(path, "super_pod_server_unknown", f'"{entry.server_id}" is not a server in server_list')
            elif entry.server_id in listed:
                yield error(
                    path,
                    "super_pod_server_duplicate",
                    f'"{entry.server_id}" is already listed at '
                    f"{listed[entry.server_id]}: each server is in exactly one SuperPoD",
                )
            else:
                listed[entry.server_id] = path
    for i, server in enumerate(t.server_list):
        if server.server_id not in listed:
            yield error(
                srv(i, "server_id"),
                "super_pod_server_missing",
                f'server "{server.server_id}" is in no SuperPoD of super_pod_list',
            )

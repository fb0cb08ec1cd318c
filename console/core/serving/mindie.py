"""MindIE Service (``mindieservice_daemon``) multi-server: its rank-table rules, in its own
words (``src/config_manager/ranktable_config.cpp``, ascend.md section 3.5 and 6 #6), and the
per-server ``config.json`` the console derives (ascend.md section 4.2).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import posixpath
from typing import Any

from console.core.errors import InputError

DEFAULT_HOME = "/usr/local/Ascend/mindie/latest/mindie-service"


def server_config_name(node_rank: int) -> str:
    """The derived config.json's name in the run folder: one per server (servers that share a
    file system, like the simulator's, must not overwrite each other's)."""
    return f"mindie-config-{int(node_rank)}.json"


DEFAULT_PORT = 1025
MIN_SERVERS, MAX_SERVERS = 2, 60
MIN_DEVICES, MAX_DEVICES = 1, 32
READY_LINE = "Daemon start success!"


def config_path(home: str) -> str:
    return posixpath.join(home, "conf", "config.json")


def _ip_ok(text: str | None) -> bool:
    try:
        ipaddress.ip_address(text or "")
    except ValueError:
        return False
    return True


def _device_problem(dev: Any) -> str | None:
    device_id, rank_id = int(dev.device_id), int(dev.rank_id)
    if not 0 <= device_id <= 63:
        return f"Parameter device_id is {device_id}, which is out of allow range [0, 63]."
    if not _ip_ok(dev.device_ip):
        return "Parameter device_ip is invalid in ranktable file."
    if not 0 <= rank_id <= 511:
        return f"Parameter rankId in ranktable is {rank_id}, which is out of allow range [0, 511]."
    return None


def rank_table_problems(table: Any) -> list[str]:
    """MindIE Service's own checks of ``RANK_TABLE_FILE``, with its wording; each message is
    prefixed with where it is (``server_list[i]``) when MindIE's text does not say."""
    out: list[str] = []
    servers = table.server_list
    count = int(table.server_count) if table.server_count is not None else len(servers)
    if not MIN_SERVERS <= count <= MAX_SERVERS:
        out.append(f"Parameter server_count must be in range [{MIN_SERVERS}, {MAX_SERVERS}], but got {count}")
    if count != len(servers):
        out.append(
            f"Parameter server_count is {count}, which is not equal to server_list length "
            f"in ranktable file, which is {len(servers)}"
        )
    if not servers:
        return out
    local = len(servers[0].device)
    if not MIN_DEVICES <= local <= MAX_DEVICES:
        out.append(f"The number of devices on single node must be in [{MIN_DEVICES}, {MAX_DEVICES}], but got {local}")
    for i, server in enumerate(servers):
        where = f"server_list[{i}] ({server.server_id})"
        if len(server.device) != local:
            out.append(
                f"{where}: The number of devices in every server node is {len(server.device)} "
                f"which not equal in ranktable file, which is {local}"
            )
        if not server.container_ip:
            out.append(f"{where}: The containerIp in the server node is empty in ranktable file.")
        for j, dev in enumerate(server.device):
            why = _device_problem(dev)
            if why:
                out.append(f"{where}.device[{j}]: {why}")
    return out


def container_ip(server: Any) -> str:
    """``MIES_CONTAINER_IP``: the server's container_ip, else its server_id."""
    return str(server.container_ip or server.server_id)


def parse_config(text: str | bytes, source: str) -> dict[str, Any]:
    """A config.json document (an object), or InputError naming ``source``."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError("not a MindIE config.json", str(exc)[:200], path=source) from None
    if not isinstance(data, dict):
        raise InputError("not a MindIE config.json", "the document is not a JSON object", path=source)
    for section in ("ServerConfig", "BackendConfig"):
        if not isinstance(data.get(section, {}), dict):
            raise InputError("not a MindIE config.json", f"{section} is not an object", path=source)
    return data


def derive_config(base: dict[str, Any], ip: str, *, tls: bool | None = None, port: int | None = None) -> dict[str, Any]:
    """This server's config.json: ``BackendConfig.multiNodesInferEnabled = true``,
    ``ServerConfig.ipAddress = ip``; ``tls`` (None = unchanged) sets
    ``BackendConfig.interNodeTLSEnabled`` and ``ServerConfig.interCommTLSEnabled``; ``port``
    (None = unchanged) sets ``ServerConfig.port``."""
    out = copy.deepcopy(base)
    server = out.setdefault("ServerConfig", {})
    backend = out.setdefault("BackendConfig", {})
    backend["multiNodesInferEnabled"] = True
    server["ipAddress"] = ip
    if tls is not None:
        backend["interNodeTLSEnabled"] = tls
        server["interCommTLSEnabled"] = tls
    if port is not None:
        server["port"] = port
    return out


_TLS_PATHS = {
    ("BackendConfig", "interNodeTLSEnabled"): (
        "interNodeTlsCaPath",
        "interNodeTlsCaFiles",
        "interNodeTlsCert",
        "interNodeTlsPk",
    ),
    ("ServerConfig", "interCommTLSEnabled"): (
        "interCommTlsCaPath",
        "interCommTlsCaFiles",
        "interCommTlsCert",
        "interCommPk",
    ),
}


def tls_warnings(config: dict[str, Any]) -> list[str]:
    """TLS switched on (MindIE's default is on) with no certificate path set."""
    out = []
    for (section, flag), paths in _TLS_PATHS.items():
        part = config.get(section) or {}
        if part.get(flag, True) is True and not any(part.get(p) for p in paths):
            out.append(
                f"config.json {section}.{flag} is true (MindIE's default) but no certificate "
                f"path is set ({', '.join(paths)}): the servers cannot connect; "
                "set the certificates or pass --mindie-tls off"
            )
    return out


def endpoint(config: dict[str, Any]) -> tuple[str, int, bool]:
    """(ServerConfig.ipAddress, ServerConfig.port, ServerConfig.httpsEnabled) with MindIE's defaults."""
    server = config.get("ServerConfig") or {}
    port = server.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InputError("bad ServerConfig.port in config.json", f"{port!r} is not a port number")
    return str(server.get("ipAddress", "127.0.0.1")), port, server.get("httpsEnabled", True) is True


def model(config: dict[str, Any]) -> tuple[str, str]:
    """(modelName, modelWeightPath) of ``BackendConfig.ModelDeployConfig.ModelConfig[0]``."""
    backend = config.get("BackendConfig") or {}
    deploy = backend.get("ModelDeployConfig") or config.get("ModelDeployConfig") or {}
    models = deploy.get("ModelConfig") if isinstance(deploy, dict) else None
    first = models[0] if isinstance(models, list) and models and isinstance(models[0], dict) else {}
    name, path = first.get("modelName"), first.get("modelWeightPath")
    if not isinstance(name, str) or not isinstance(path, str) or not path.startswith("/"):
        raise InputError(
            "config.json has no usable BackendConfig.ModelDeployConfig.ModelConfig[0]",
            "modelName and an absolute modelWeightPath are needed",
        )
    return name, path

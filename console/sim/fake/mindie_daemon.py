"""Fake ``mindieservice_daemon`` (MindIE Service) of the simulated cluster, multi-server.

Installed as ``$ROOT/usr/local/Ascend/mindie/latest/mindie-service/bin/mindieservice_daemon``
with ``conf/config.json`` beside it. Reads what the real daemon reads, in its order, and fails
(exit 1) with MindIE's own lines where they are known (``ranktable_config.cpp``):

* ``config.json``: ``$MIES_CONFIG_JSON_PATH``, else ``<install>/conf/config.json``; a regular
  file no more permissive than 640 unless ``MINDIE_CHECK_INPUTFILES_PERMISSION=0``; JSON;
  ``ServerConfig.ipAddress`` (``$MIES_CONTAINER_IP`` overrides it; ``0.0.0.0`` only with
  ``allowAllZeroIpListening``) and ``port``; ``ModelDeployConfig.ModelConfig[0]``
  ``modelName`` and ``modelWeightPath`` (a folder no more permissive than 750 holding a
  ``config.json`` no more permissive than 640, else ``Check_path: config.json failed``).
* ``BackendConfig.multiNodesInferEnabled`` false: a single-server service (the rank table is
  not read; every server answers on its own, as the real one does).
* multi-server: ``$RANK_TABLE_FILE`` (set, mode 640), its JSON, ``server_count`` in [2, 60] and
  equal to the list, the same device count on every server, ``container_ip`` on every server,
  ``device_id`` in [0, 63], ``device_ip`` an IP, ``rank_id`` in [0, 511]; ``$MASTER_IP`` set;
  this server found by ``$MIES_CONTAINER_IP`` (``container_ip``) or ``$HOST_IP``
  (``server_id``).

The master (the server holding rank 0) listens at its container_ip and
``BackendConfig.multiNodesInferPort``; the others connect to ``$MASTER_IP`` there and announce
their container_ip, the rank table's sha256 and ``interNodeTLSEnabled``. A server with a proxy
variable set, or a wrong ``MASTER_IP``, never reaches the master: the service hangs. When every
server joined, each prints ``Daemon start success!`` and the master answers on
``ipAddress:port`` (http; OpenAI-compatible ``/v1/chat/completions``, ``/v1/completions``,
``/v1/models``, ``/health``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import socket
import stat
import sys
from typing import Any

import serving
from serving import say

READY = "Daemon start success!"
KILLING = "Daemon is killing..."
PROXIES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")


class Fail(Exception):
    """A check failed: the lines to print (stdout, as MindIE's std::cout)."""


def _mode_ok(path: str, limit: int) -> bool:
    if os.environ.get("MINDIE_CHECK_INPUTFILES_PERMISSION") == "0":
        return True
    return stat.S_IMODE(os.stat(path).st_mode) & ~limit == 0


def _is_ip(text: Any) -> bool:
    try:
        ipaddress.ip_address(str(text))
    except ValueError:
        return False
    return True


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    if not isinstance(value, dict):
        raise Fail(f"parse config.json failed: {name} is missing or not an object")
    return value


def read_config(install: str) -> tuple[str, dict[str, Any]]:
    path = os.environ.get("MIES_CONFIG_JSON_PATH") or os.path.join(install, "conf", "config.json")
    if not os.path.isfile(path):
        raise Fail(f"config.json not found: {path}")
    if not _mode_ok(path, 0o640):
        raise Fail(f"The permission of {path} is higher than 640: check the config.json file failed.")
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        raise Fail(f"parse config.json failed: {exc}") from None
    if not isinstance(doc, dict):
        raise Fail("parse config.json failed: not a JSON object")
    return path, doc


def check_server(doc: dict[str, Any]) -> tuple[str, int]:
    server = _section(doc, "ServerConfig")
    ip = os.environ.get("MIES_CONTAINER_IP") or server.get("ipAddress", "127.0.0.1")
    if not _is_ip(ip):
        raise Fail(f"ServerConfig.ipAddress {ip} is invalid.")
    if ip == "0.0.0.0" and not server.get("allowAllZeroIpListening"):
        raise Fail("ServerConfig.ipAddress 0.0.0.0 is not allowed unless allowAllZeroIpListening is true.")
    port = server.get("port", 1025)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise Fail(f"ServerConfig.port {port} is out of range [1, 65535].")
    return str(ip), port


def check_model(doc: dict[str, Any]) -> str:
    deploy = _section(doc, "BackendConfig").get("ModelDeployConfig") or doc.get("ModelDeployConfig")
    models = deploy.get("ModelConfig") if isinstance(deploy, dict) else None
    if not isinstance(models, list) or not models or not isinstance(models[0], dict):
        raise Fail("parse config.json failed: ModelDeployConfig.ModelConfig is missing or empty")
    model = models[0]
    name, weights = model.get("modelName"), model.get("modelWeightPath")
    if not name or not isinstance(weights, str) or not weights:
        raise Fail("parse config.json failed: ModelConfig needs modelName and modelWeightPath")
    folder = serving.on_server(weights)
    if not os.path.isdir(folder):
        raise Fail(f"Check_path: {weights} failed: the model weight path does not exist.")
    if not _mode_ok(folder, 0o750):
        raise Fail(f"Check_path: {weights} failed: the permission of the model folder is higher than 750.")
    conf = os.path.join(folder, "config.json")
    if not os.path.isfile(conf) or not _mode_ok(conf, 0o640):
        raise Fail("Check_path: config.json failed")
    return str(name)


def read_ranktable() -> tuple[dict[str, Any], bytes]:
    """``RanktableConfigManager``: the constructor, ``InitFromJson`` and ``CheckParam``."""
    path = os.environ.get("RANK_TABLE_FILE", "")
    if not path:
        raise Fail(
            "Ranktable file is not exist, please set a valid ranktable file path with RANK_TABLE_FILE environment."
        )
    if not os.path.isfile(path):
        raise Fail(f"The file {path} is not a regular file or does not exist.")
    if not _mode_ok(path, 0o640):
        raise Fail(f"The permission of {path} is higher than 640.")
    say("Start to parse ranktable file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        doc = json.loads(raw)
        count = int(str(doc["server_count"]))
        servers = doc["server_list"]
        if not isinstance(servers, list) or not all(isinstance(s, dict) for s in servers):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise Fail(
            "Ranktable file is invalid. Please check json format! \n"
            "Failed to parse the json data of ranktable file data."
        ) from None
    say("Finished parsing ranktable file.")
    _check_param(count, servers)
    return doc, raw


def _check_param(count: int, servers: list[Any]) -> None:
    lines = []
    if not 2 <= count <= 60:
        lines.append(f"Parameter server_count must be in range [2, 60], but got {count}")
    if count != len(servers):
        lines.append(
            f"Parameter server_count is {count}, which is not equal to server_list length in "
            f"ranktable file, which is {len(servers)}"
        )
    local = len(servers[0].get("device") or []) if servers else 0
    if not 1 <= local <= 32:
        lines.append(f"The number of devices on single node must be in [1, 32], but got {local}")
    for srv in servers:
        devices = srv.get("device") or []
        if len(devices) != local:
            lines.append(
                f"The number of devices in every server node is {len(devices)} which not "
                f"equal in ranktable file, which is {local}"
            )
            break
        if not srv.get("container_ip"):
            lines.append("The containerIp in the server node is empty in ranktable file.")
            break
        bad = _device_error(devices)
        if bad:
            lines.append(bad)
            break
    if lines:
        raise Fail("\n".join(lines))


def _device_error(devices: list[Any]) -> str | None:
    for dev in devices:
        for key, top, word in (("device_id", 63, "device_id"), ("rank_id", 511, "rankId")):
            try:
                value = int(str(dev.get(key)))
            except ValueError:
                return f"Parameter {word} is invalid in ranktable file."
            if not 0 <= value <= top:
                where = "device_id is" if key == "device_id" else "rankId in ranktable is"
                return f"Parameter {where} {value}, which is out of allow range [0, {top}]."
        if not _is_ip(dev.get("device_ip")):
            return "Parameter device_ip is invalid in ranktable file."
    return None


def _whoami(servers: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(this server's entry, the master's entry: the server holding rank_id 0)."""
    container = os.environ.get("MIES_CONTAINER_IP", "")
    if not container:
        say("The env variable MIES_CONTAINER_IP isn't exist.")
        try:
            container = socket.gethostbyname(socket.gethostname())
        except OSError:
            raise Fail("Error getting host information") from None
    host_ip = os.environ.get("HOST_IP", "")
    master = next((s for s in servers if any(str(d.get("rank_id")) == "0" for d in s.get("device") or [])), None)
    me = next(
        (s for s in servers if s.get("container_ip") == container or (host_ip and s.get("server_id") == host_ip)), None
    )
    if master is None:
        raise Fail("Parameter rankId is invalid in ranktable file: no device has rank_id 0.")
    if me is None:
        raise Fail(
            f"This server (MIES_CONTAINER_IP={container}, HOST_IP={host_ip or 'unset'}) is not in the ranktable file."
        )
    return me, master


def main(argv: list[str], state_path: str) -> int:
    state = serving.load_state(state_path)
    install = os.environ.get("MIES_INSTALL_PATH") or os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0])))
    try:
        return _run(state, install)
    except Fail as exc:
        say(str(exc))
        return 1


def _run(state: dict[str, Any], install: str) -> int:
    serve = state.get("serve", {})
    _path, doc = read_config(install)
    ip, port = check_server(doc)
    model = check_model(doc)
    backend = _section(doc, "BackendConfig")
    if not backend.get("multiNodesInferEnabled"):
        return _serve(ip, port, model, serve, None)
    table, raw = read_ranktable()
    master_ip = os.environ.get("MASTER_IP", "")
    if not _is_ip(master_ip):
        raise Fail(f"The env variable MASTER_IP isn't exist or is not a valid IP: {master_ip!r}.")
    me, master = _whoami(table["server_list"])
    infer_port = int(backend.get("multiNodesInferPort", 1120))
    tls = bool(backend.get("interNodeTLSEnabled", True))
    digest = hashlib.sha256(raw).hexdigest()
    if serve.get("no_join"):
        serving.hang()
    if me is master:
        slaves = {str(s["container_ip"]) for s in table["server_list"] if s is not master}
        try:
            hub = serving.Master(str(me["container_ip"]), infer_port, slaves, _judge(digest, tls))
        except OSError as exc:
            raise Fail(
                f"Failed to listen on {me['container_ip']}:{infer_port} for the other nodes: {exc.strerror}"
            ) from None
        hub.wait()
        hub.watch(lambda _who: _killing())
        return _serve(ip, port, model, serve, hub)
    if any(os.environ.get(p) for p in PROXIES):
        serving.hang()  # the inter-node traffic goes to the proxy: never reaches the master
    hello = {"ids": [str(me["container_ip"])], "sha256": digest, "tls": tls, "server": state.get("server")}
    sock, error = serving.join(master_ip, infer_port, hello)
    if error is not None:
        raise Fail(error)
    say(READY)
    serving.wait_master_gone(sock)
    say(KILLING)
    return 1


def _judge(digest: str, tls: bool) -> Any:
    def check(hello: dict[str, Any]) -> serving.Verdict:
        if hello.get("tls") != tls:
            return (
                "reject",
                (
                    "Inter-node TLS handshake with the master failed: interNodeTLSEnabled "
                    "differs between this node and the master."
                ),
            )
        if hello.get("sha256") != digest:
            return ("reject", "The ranktable file of this node differs from the master's.")
        return None

    return check


def _killing() -> None:
    say(KILLING)
    os._exit(1)


def _serve(ip: str, port: int, model: str, serve: dict[str, Any], hub: Any) -> int:
    service = serving.Service(model, "MindIE Server", serve.get("crash_after"), _killing)
    try:
        server = serving.http_server(ip, port, service)
    except OSError as exc:
        raise Fail(f"Failed to bind the endpoint on {ip}:{port}: {exc.strerror}") from None
    say(READY)
    server.serve_forever()
    return 0


if __name__ == "__main__":  # pragma: no cover - the launcher calls main()
    sys.exit(main(sys.argv[1:], os.environ.get("CCSIM_STATE", "")))

"""asyncssh.connect() arguments for one resolved host, and the ProxyCommand it runs.

asyncssh is given explicit values only (``config=[]``): ssh_config is resolved by
``sshconfig`` the way ``ssh -G`` does, so asyncssh's own ssh_config reader never applies.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .hostkeys import HostKeyCheck
    from .options import HostSpec, SSHOptions

STDERR_TAIL = 2000
_WRAPPER = '"$0" -c "$1" 2>"$2"; s=$?; { printf "%s\\n" "$s" >"$3"; } 2>/dev/null; exit "$s"'


class ProxyCapture:
    """Runs a ProxyCommand as ssh does (``$SHELL -c "exec CMD"``) and keeps its exit status
    and stderr in a private folder (0700, random name), so a failing proxy is reported as what
    it is. The folder is removed by ``close()``; a proxy still running keeps writing to its
    (then unlinked) stderr file, and never to the console's terminal."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.folder = Path(tempfile.mkdtemp(prefix="cluster-console-proxy-"))
        self.stderr_path = self.folder / "stderr"
        self.status_path = self.folder / "status"

    def argv(self) -> list[str]:
        shell = os.environ.get("SHELL") or "/bin/sh"
        return ["/bin/sh", "-c", _WRAPPER, shell, f"exec {self.command}", str(self.stderr_path), str(self.status_path)]

    def failure(self) -> tuple[int, str] | None:
        """(exit status, last lines of stderr) once the command has exited, else None."""
        try:
            status = int(self.status_path.read_text().strip() or "0")
        except (OSError, ValueError):
            return None
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - STDERR_TAIL))
                tail = f.read(STDERR_TAIL).decode("utf-8", "replace").strip()
        except OSError:
            tail = ""
        return status, tail

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# Ciphers when ssh_config names none: OpenSSH's own set, AES-GCM first. asyncssh implements
# chacha20-poly1305 in Python around a fresh cipher context per packet (~20 us a packet
# against ~3 us for AES-GCM, measured): at 1,024 servers that was a tenth of the console's
# CPU in discovery. The server still picks from the same list; nothing weaker is offered.
DEFAULT_CIPHERS = (
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr"
)


def _algs(values: dict[str, object], key: str) -> Any:
    value = values.get(key)
    return str(value) if isinstance(value, str) else ()


def connect_kwargs(
    spec: HostSpec,
    options: SSHOptions,
    tunnel: object | None,
    check: HostKeyCheck,
    client_factory: Any,
    client_keys: Any,
) -> dict:
    """Keyword arguments of ``asyncssh.connect`` for ``spec`` (a new ProxyCapture is stored
    on ``check`` when the host has a ProxyCommand)."""
    st = spec.settings
    values = st.values if st is not None else {}
    kw: dict[str, Any] = {
        "host": spec.hostname,
        "port": spec.port,
        "username": spec.user,
        "config": [],
        "known_hosts": check.trusted,
        "client_factory": client_factory,
        "client_keys": client_keys,
        "ignore_encrypted": True,
        "tunnel": tunnel,
        "connect_timeout": options.connect_timeout,
        "keepalive_interval": options.keepalive_interval,
        "keepalive_count_max": options.keepalive_count_max,
        "gss_auth": values.get("gssapiauthentication") is True,
        "gss_kex": False,
        "host_based_auth": values.get("hostbasedauthentication") is True,
        "canonicalize_hostname": False,
    }
    if spec.proxy_command is not None and tunnel is None:
        capture = ProxyCapture(spec.proxy_command)
        check.proxy = capture
        kw["proxy_command"] = capture.argv()
    if st is None:
        return kw
    _auth(kw, spec, st)
    for key, arg in (
        ("kexalgorithms", "kex_algs"),
        ("ciphers", "encryption_algs"),
        ("macs", "mac_algs"),
        ("hostkeyalgorithms", "server_host_key_algs"),
    ):
        if _algs(values, key):
            kw[arg] = _algs(values, key)
    kw.setdefault("encryption_algs", DEFAULT_CIPHERS)
    if spec.strict == "no" and "server_host_key_algs" not in kw:
        kw["server_host_key_algs"] = "default"  # any key type: not only the recorded ones
    if values.get("bindaddress"):
        kw["local_addr"] = (str(values["bindaddress"]), 0)
    family = str(values.get("addressfamily", "any")).lower()
    kw["family"] = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}.get(family, socket.AF_UNSPEC)
    if "tcpkeepalive" in values:
        kw["tcp_keepalive"] = bool(values["tcpkeepalive"])
    if str(values.get("compression", "no")).lower() == "yes":
        kw["compression_algs"] = "zlib@openssh.com,zlib,none"
    sendenv = values.get("sendenv")
    if isinstance(sendenv, list) and sendenv:
        kw["send_env"] = list(sendenv)
    setenv = values.get("setenv")
    if isinstance(setenv, list) and setenv and setenv != ["none"]:
        kw["env"] = dict(item.partition("=")[::2] for item in setenv if "=" in item)
    return kw


def _auth(kw: dict[str, Any], spec: HostSpec, st: Any) -> None:
    values = st.values
    if st.certificate_files:
        kw["client_certs"] = [p for p in st.certificate_files if Path(p).is_file()]
    if st.identity_agent is not None:
        kw["agent_path"] = st.identity_agent or None
    if st.identities_only and isinstance(kw.get("client_keys"), list):
        kw["agent_identities"] = [p for p in kw["client_keys"] if Path(p + ".pub").is_file() or Path(p).is_file()]
    if values.get("preferredauthentications"):
        kw["preferred_auth"] = str(values["preferredauthentications"])
    if values.get("pubkeyauthentication") in ("no", "false"):
        kw["public_key_auth"] = False
    no = spec.strict == "no"  # a changed key may be let through: nothing MITM-able, as ssh
    kw["password_auth"] = False if no else values.get("passwordauthentication", True) is not False
    kw["kbdint_auth"] = False if no else values.get("kbdinteractiveauthentication", True) is not False
    kw["agent_forwarding"] = False if no else bool(st.forward_agent)

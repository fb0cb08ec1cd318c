"""Reading ssh_config files as OpenSSH's readconf.c does, for one host and one pass.

Files are compiled once into Host/Match blocks (cached while unchanged), so resolving one
host of a 1,024-host config visits 1,024 block heads, not every line.
"""

from __future__ import annotations

import glob
import os
import re
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .sshkeywords import (
    KNOWN,
    Account,
    SSHConfigError,
    connection_tokens,
    expand_tokens,
    match_list,
    match_pattern,
    split_args,
    tilde,
)

MAX_INCLUDE_DEPTH = 16
STRICT: dict[str, object] = {
    "true": "yes",
    "yes": "yes",
    "false": "no",
    "no": "no",
    "off": "no",
    "ask": "ask",
    "accept-new": "accept-new",
}
FLAG: dict[str, object] = {"true": True, "yes": True, "false": False, "no": False}
CANON: dict[str, object] = {"true": "yes", "yes": "yes", "false": "no", "no": "no", "always": "always"}


@dataclass
class _State:
    host: str
    original: str
    account: Account
    final: bool
    opts: dict[str, object] = field(default_factory=dict)
    identities: list[tuple[str, bool]] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)
    want_final: bool = False
    files: list[str] = field(default_factory=list)

    def set_first(self, key: str, value: object) -> None:
        self.opts.setdefault(key, value)


@dataclass
class _Stmt:
    keyword: str
    rest: str
    args: list[str]
    line: int


@dataclass
class _Block:
    """A Host or Match line (None: the top of the file) and the lines up to the next one."""

    head: _Stmt | None
    body: list[_Stmt] = field(default_factory=list)
    patterns: list[tuple[bool, str | None, re.Pattern[str] | None]] = field(default_factory=list)
    """Host patterns, compiled: (negated, literal, regex)."""
    scan: bool = False
    """The body has Include or unknown keywords: visited even when the block does not apply."""
    run: _Run | None = None
    """Set on the first block of a run of plain ``Host name...`` blocks (see ``_Run``)."""


@dataclass
class _Run:
    """Consecutive blocks ``[start, end)`` whose Host lines are plain names only (no
    wildcard, no ``!``) and whose bodies need no visit when they do not apply: resolving a
    host looks its name up instead of testing every block, so one host of a 1,024-host
    config costs the same as one host of an 8-host config."""

    end: int
    index: dict[str, list[int]]
    """Host name -> the blocks of the run naming it, in file order."""
    last: frozenset[str]
    """The names of the run's last block: whether it applies decides the state after the run."""


_Stamp = tuple[int, int, int, int]
_COMPILED: dict[str, tuple[_Stamp, list[_Block]]] = {}


def _compile(path: str, data: bytes) -> list[_Block]:
    """The file's lines split into blocks, with every host-independent check OpenSSH makes
    (quotes, missing arguments, ports, yes/no values, ProxyJump syntax) done once."""
    blocks = [_Block(None)]
    for number, raw in enumerate(data.decode("utf-8", "surrogateescape").split("\n"), 1):
        keyword, rest = _keyword(raw)
        if keyword is None:
            continue
        if not rest:
            raise SSHConfigError(f'no argument after keyword "{keyword}"', path, number)
        try:
            args = split_args(rest)
        except ValueError:
            if keyword in KNOWN:
                raise SSHConfigError("invalid quotes", path, number) from None
            args = []
        stmt = _Stmt(keyword, rest, args, number)
        if keyword in ("host", "match"):
            blocks.append(_Block(stmt, patterns=_host_patterns(args) if keyword == "host" else []))
            continue
        if keyword == "include" or keyword not in KNOWN:
            blocks[-1].scan = True
        else:
            _validate(keyword, args, rest, (path, number))
        blocks[-1].body.append(stmt)
    _mark_runs(blocks)
    return blocks


def _plain_names(block: _Block) -> list[str] | None:
    if block.head is None or block.head.keyword != "host" or block.scan or not block.patterns:
        return None
    names = [literal for negated, literal, regex in block.patterns if not negated and regex is None]
    return names if len(names) == len(block.patterns) else None  # type: ignore[return-value]  # literal is set when regex is None


def _mark_runs(blocks: list[_Block]) -> None:
    i = 0
    while i < len(blocks):
        j = i
        while j < len(blocks) and _plain_names(blocks[j]) is not None:
            j += 1
        if j - i >= 2:
            index: dict[str, list[int]] = {}
            for k in range(i, j):
                for name in dict.fromkeys(_plain_names(blocks[k]) or ()):
                    index.setdefault(name, []).append(k)
            blocks[i].run = _Run(j, index, frozenset(_plain_names(blocks[j - 1]) or ()))
        i = max(j, i + 1)


def _host_patterns(args: list[str]) -> list[tuple[bool, str | None, re.Pattern[str] | None]]:
    out: list[tuple[bool, str | None, re.Pattern[str] | None]] = []
    for arg in args:
        negated = arg.startswith("!")
        pattern = arg[1:] if negated else arg
        if "*" in pattern or "?" in pattern:
            regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
            out.append((negated, None, re.compile(regex, re.DOTALL)))
        else:
            out.append((negated, pattern, None))
    return out


def _validate(keyword: str, args: list[str], rest: str, where: tuple[str, int]) -> None:
    """Checks OpenSSH makes whether or not the line applies to the host."""
    if keyword == "port":
        _port(args[0], where)
    elif keyword == "proxyjump":
        _check_jump(rest, where)
    elif keyword in _MULTISTATE:
        _multistate(keyword, args[0], where)


def _load(path: Path, check_perm: bool) -> list[_Block] | None:
    """The compiled file (cached while its inode, mtime and size stay); None if missing."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if check_perm:
                _check_perm(path, st)
            stamp = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
            cached = _COMPILED.get(str(path))
            if cached is not None and cached[0] == stamp:
                return cached[1]
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise SSHConfigError(f"cannot read: {exc.strerror or exc}", str(path)) from None
    blocks = _compile(str(path), data)
    _COMPILED[str(path)] = (stamp, blocks)
    return blocks


class _Reader:
    """One pass over the files for one host, as OpenSSH's process_config_files()."""

    def __init__(self, state: _State, system_dir: Path) -> None:
        self.s = state
        self.system_dir = system_dir

    def read_file(
        self, path: Path, *, user_conf: bool, check_perm: bool, active: list[bool], never: bool = False, depth: int = 0
    ) -> bool:
        """False when the file does not exist (as fopen() failing); errors raise."""
        if depth > MAX_INCLUDE_DEPTH:
            raise SSHConfigError("Too many recursive configuration includes", str(path))
        blocks = _load(path, check_perm)
        if blocks is None:
            return False
        self.s.files.append(str(path))
        name = str(path)
        i = 0
        while i < len(blocks):
            block = blocks[i]
            i += 1
            if block.run is not None:
                for k in [] if never else block.run.index.get(self.s.host, []):
                    for stmt in blocks[k].body:  # known keywords only: no scan in a run
                        self.stmt(stmt, name, [True], user_conf=user_conf, never=never, depth=depth)
                active[0] = not never and self.s.host in block.run.last
                i = block.run.end
                continue
            head = block.head
            if head is not None and head.keyword == "host":
                active[0] = False if never else self._host(block)
            elif head is not None:
                result = self._match(head.rest, (name, head.line))
                active[0] = False if never else result
            if not (active[0] or block.scan):
                continue
            for stmt in block.body:
                self.stmt(stmt, name, active, user_conf=user_conf, never=never, depth=depth)
        return True

    def stmt(self, stmt: _Stmt, path: str, active: list[bool], *, user_conf: bool, never: bool, depth: int) -> None:
        keyword, where = stmt.keyword, (path, stmt.line)
        if keyword not in KNOWN:
            ignored = self.s.opts.get("ignoreunknown")
            if isinstance(ignored, str) and match_list(keyword, ignored, lower=True) == 1:
                return
            raise SSHConfigError(f"Bad configuration option: {keyword}", *where)
        if keyword == "include":
            self._include(stmt.args, where, active, user_conf=user_conf, never=never, depth=depth)
        elif active[0]:
            self._option(keyword, stmt.args, stmt.rest, where, user_conf=user_conf)

    def line(
        self, raw: str, path: str, number: int, active: list[bool], *, user_conf: bool, never: bool, depth: int
    ) -> None:
        """One line given on the command line (``-o``)."""
        blocks = _compile(path, raw.encode())
        for stmt in blocks[0].body:
            stmt.line = number
            self.stmt(stmt, path, active, user_conf=user_conf, never=never, depth=depth)

    # ---- blocks ------------------------------------------------------------------------

    def _host(self, block: _Block) -> bool:
        host = self.s.host
        matched = False
        for negated, literal, regex in block.patterns:
            if (host == literal) if regex is None else (regex.fullmatch(host) is not None):
                if negated:
                    return False
                matched = True
        return matched

    def _match(self, rest: str, where: tuple[str, int]) -> bool:
        s = self.s
        tokens = _match_tokens(rest)
        if not tokens:
            raise SSHConfigError("One or more attributes required for Match", *where)
        port = int(str(s.opts.get("port") or 22))
        ruser = str(s.opts.get("user") or s.account.name)
        if s.final:
            host = str(s.opts.get("hostname"))
        elif "hostname" in s.opts:
            host = expand_tokens(str(s.opts["hostname"]), {"h": s.host}, *where)
        else:
            host = s.host
        result = True
        attributes = 0
        index = 0
        while index < len(tokens):
            attrib = tokens[index]
            index += 1
            negate = attrib.startswith("!")
            name = (attrib[1:] if negate else attrib).lower()
            if name == "all":
                if attributes > 1 or index < len(tokens):
                    raise SSHConfigError(f"'{attrib}' cannot be combined with other Match attributes", *where)
                return result and not negate
            attributes += 1
            if name in ("canonical", "final"):
                if name == "final":
                    s.want_final = True
                if s.final == negate:
                    result = False
                continue
            if index >= len(tokens):
                raise SSHConfigError(f"Missing Match criteria for {name}", *where)
            arg = tokens[index]
            index += 1
            if name == "exec" and not result:
                continue
            hit = self._criterion(name, arg, host, ruser, port, where)
            if hit == negate:
                result = False
        return result

    def _criterion(self, name: str, arg: str, host: str, ruser: str, port: int, where: tuple[str, int]) -> bool:
        s = self.s
        if name == "host":
            return match_list(host.lower(), arg, lower=True) == 1
        if name == "originalhost":
            return match_list(s.original.lower(), arg, lower=True) == 1
        if name == "user":
            return match_list(ruser, arg) == 1
        if name == "localuser":
            return match_list(s.account.name, arg) == 1
        if name == "exec":
            alias = s.opts.get("hostkeyalias")
            tokens = connection_tokens(s.account, host, port, ruser, s.original, str(alias) if alias else host)
            return _run_match_exec(expand_tokens(arg, tokens, *where), where)
        raise SSHConfigError(f"Unsupported Match attribute {name}", *where)

    def _include(
        self, args: list[str], where: tuple[str, int], active: list[bool], *, user_conf: bool, never: bool, depth: int
    ) -> None:
        for arg in args:
            if arg.startswith("~") and not user_conf:
                raise SSHConfigError(f"bad include path {arg}.", *where)
            if not arg.startswith(("/", "~")):
                arg = ("~/.ssh/" if user_conf else str(self.system_dir) + "/") + arg
            pattern = tilde(arg, self.s.account) if arg.startswith("~") else arg
            outer = active[0]
            for name in sorted(glob.glob(pattern)):
                self.read_file(
                    Path(name),
                    user_conf=user_conf,
                    check_perm=True,
                    active=active,
                    never=never or not outer,
                    depth=depth + 1,
                )
                active[0] = outer

    # ---- options -----------------------------------------------------------------------

    def _option(self, keyword: str, args: list[str], rest: str, where: tuple[str, int], *, user_conf: bool) -> None:
        s = self.s
        handler = _HANDLERS.get(keyword)
        if handler is not None:
            handler(self, keyword, args, rest, where, user_conf)
            return
        s.set_first(keyword, args if len(args) > 1 else args[0])


def _keyword(raw: str) -> tuple[str | None, str]:
    """Keyword (lower-case) and the rest of the line, as strdelim() splits them."""
    line = raw.rstrip(" \t\r\n\f")
    stripped = line.lstrip(" \t\r\n")
    if not stripped or stripped.startswith("#"):
        return None, ""
    end = 0
    while end < len(stripped) and stripped[end] not in ' \t\r\n"=':
        end += 1
    keyword = stripped[:end].lower()
    rest = stripped[end:]
    if rest.startswith("="):
        rest = rest[1:].lstrip(" \t\r\n")
    else:
        rest = rest.lstrip(" \t\r\n")
        if rest.startswith("="):
            rest = rest[1:].lstrip(" \t\r\n")
    if not keyword:
        return None, ""
    return keyword, rest


def _match_tokens(rest: str) -> list[str]:
    out = []
    for token in split_args(rest):
        if token.startswith("#"):
            break
        out.append(token)
    return out


def _check_perm(path: Path, st: os.stat_result) -> None:
    if (st.st_uid not in (0, os.getuid())) or (st.st_mode & 0o022):
        raise SSHConfigError("Bad owner or permissions", str(path))


def _run_match_exec(command: str, where: tuple[str, int]) -> bool:
    shell = os.environ.get("SHELL") or "/bin/sh"
    try:
        done = subprocess.run([shell, "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=False)
    except OSError as exc:
        raise SSHConfigError(f"match exec '{command}' error: {exc.strerror or exc}", *where) from None
    if done.returncode < 0:
        raise SSHConfigError(f"match exec '{command}' error", *where)
    return done.returncode == 0


def _port(value: str, where: tuple[str, int]) -> int:
    """misc.c a2port: a number 1-65535 or a service name."""
    try:
        port = int(value) if value.isdigit() else socket.getservbyname(value, "tcp")
    except OSError:
        port = 0
    if not 1 <= port <= 65535:
        raise SSHConfigError(f"Bad port '{value}'.", *where)
    return port


_MULTISTATE: dict[str, dict[str, object]] = {
    "stricthostkeychecking": STRICT,
    "canonicalizehostname": CANON,
    "identitiesonly": FLAG,
    "canonicalizefallbacklocal": FLAG,
    "passwordauthentication": FLAG,
    "kbdinteractiveauthentication": FLAG,
    "hostbasedauthentication": FLAG,
    "gssapiauthentication": FLAG,
    "tcpkeepalive": FLAG,
    "checkhostip": FLAG,
    "batchmode": FLAG,
}


def _multistate(keyword: str, value: str, where: tuple[str, int]) -> object:
    table = _MULTISTATE[keyword]
    try:
        return table[value.lower()]
    except KeyError:
        raise SSHConfigError(f'unsupported option "{value}".', *where) from None


def _check_jump(text: str, where: tuple[str, int]) -> str | None:
    """ProxyJump's value (comment stripped) after OpenSSH's syntax check; None for ``none``."""
    from .options import parse_jump_hop

    value = text.split("#", 1)[0].rstrip(" \t\r\n")
    if value.lower() == "none":
        return None
    for hop in value.split(","):
        if not parse_jump_hop(hop):
            raise SSHConfigError(f'Invalid ProxyJump "{text}"', *where)
    return value


def _h_multistate(r: _Reader, key: str, args, rest, where, user_conf) -> None:
    r.s.set_first(key, _multistate(key, args[0], where))


def _h_string(r: _Reader, key: str, args, rest, where, user_conf) -> None:
    r.s.set_first(key, args[0])


def _h_port(r: _Reader, key: str, args, rest, where, user_conf) -> None:
    r.s.set_first("port", _port(args[0], where))


def _h_array(r: _Reader, key: str, args, rest, where, user_conf) -> None:
    if "none" in (a.lower() for a in args) and len(args) > 1:
        raise SSHConfigError(f'keyword {key} "none" argument must appear alone.', *where)
    r.s.set_first(key, list(args))


def _h_identity(r: _Reader, key: str, args, rest, where, user_conf) -> None:
    entry = (args[0], user_conf)
    if entry not in r.s.identities:
        r.s.identities.append(entry)


def _h_certificate(r: _Reader, key: str, args, rest, where, user_conf) -> None:
    if args[0] not in r.s.certificates:  # both passes read the files: once each, as ssh
        r.s.certificates.append(args[0])


def _h_command(r: _Reader, key: str, args, rest, where, user_conf) -> None:
    value = rest.lstrip(" \t\r\n=")
    if key == "proxycommand" and "proxyjump" in r.s.opts:
        return  # ProxyJump given first: ProxyCommand ignored
    r.s.set_first(key, value)


def _h_jump(r: _Reader, key: str, args, rest, where, user_conf) -> None:
    value = _check_jump(rest, where)
    if "proxycommand" in r.s.opts or "proxyjump" in r.s.opts:
        return
    r.s.opts["proxyjump"] = value if value is not None else "none"
    r.s.opts["proxycommand"] = "none"


def _h_forward_agent(r: _Reader, key: str, args, rest, where, user_conf) -> None:
    r.s.set_first(key, FLAG.get(args[0].lower(), True))  # not yes/no: a socket path


def _h_sendenv(r: _Reader, key: str, args, rest, where, user_conf) -> None:
    env = r.s.opts.setdefault("sendenv", [])
    assert isinstance(env, list)
    for arg in args:
        if arg.startswith("-"):
            env[:] = [e for e in env if not match_pattern(e, arg[1:])]
        else:
            env.append(arg)


def _h_int(r: _Reader, key: str, args, rest, where, user_conf) -> None:
    try:
        r.s.set_first(key, int(args[0]))
    except ValueError:
        raise SSHConfigError(f"integer value {args[0]} is invalid.", *where) from None


_HANDLERS = {
    "hostname": _h_string,
    "user": _h_string,
    "hostkeyalias": _h_string,
    "identityagent": _h_string,
    "ignoreunknown": _h_string,
    "preferredauthentications": _h_string,
    "bindaddress": _h_string,
    "ciphers": _h_string,
    "macs": _h_string,
    "kexalgorithms": _h_string,
    "hostkeyalgorithms": _h_string,
    "addressfamily": _h_string,
    "compression": _h_string,
    "port": _h_port,
    "identityfile": _h_identity,
    "certificatefile": _h_certificate,
    "userknownhostsfile": _h_array,
    "globalknownhostsfile": _h_array,
    "canonicaldomains": _h_array,
    "canonicalizepermittedcnames": _h_array,
    "setenv": _h_array,
    "proxycommand": _h_command,
    "remotecommand": _h_command,
    "localcommand": _h_command,
    "knownhostscommand": _h_command,
    "proxyjump": _h_jump,
    "forwardagent": _h_forward_agent,
    "sendenv": _h_sendenv,
    "canonicalizemaxdots": _h_int,
    **{k: _h_multistate for k in _MULTISTATE},
}


def check_files(files: list[tuple[Path, bool, bool]], account: Account, system_dir: Path) -> None:
    """Host-independent checks of whole files and their Includes, before any connection:
    what ssh refuses whatever the host (quotes, ports, yes/no values, ProxyJump syntax, an
    unknown keyword that no IgnoreUnknown of the files could excuse). ``files``: (path,
    user_conf, check_perm) in reading order; missing files are skipped."""
    seen: list[tuple[Path, list[_Block], bool]] = []

    def walk(path: Path, user_conf: bool, check_perm: bool, depth: int) -> None:
        if depth > MAX_INCLUDE_DEPTH:
            raise SSHConfigError("Too many recursive configuration includes", str(path))
        blocks = _load(path, check_perm)
        if blocks is None:
            return
        seen.append((path, blocks, user_conf))
        for block in blocks:
            for stmt in block.body:
                if stmt.keyword != "include":
                    continue
                for arg in stmt.args:
                    if arg.startswith("~") and not user_conf:
                        raise SSHConfigError(f"bad include path {arg}.", str(path), stmt.line)
                    if not arg.startswith(("/", "~")):
                        arg = ("~/.ssh/" if user_conf else str(system_dir) + "/") + arg
                    pattern = tilde(arg, account) if arg.startswith("~") else arg
                    for name in sorted(glob.glob(pattern)):
                        walk(Path(name), user_conf, True, depth + 1)

    for path, user_conf, check_perm in files:
        walk(path, user_conf, check_perm, 0)
    ignored = [
        stmt.args[0]
        for _, blocks, _ in seen
        for block in blocks
        for stmt in block.body
        if stmt.keyword == "ignoreunknown" and stmt.args
    ]
    for path, blocks, _ in seen:
        for block in blocks:
            for stmt in block.body:
                if stmt.keyword in KNOWN or any(
                    match_list(stmt.keyword, pattern, lower=True) == 1 for pattern in ignored
                ):
                    continue
                raise SSHConfigError(f"Bad configuration option: {stmt.keyword}", str(path), stmt.line)

"""OpenSSH's ssh_config vocabulary and string rules: keywords, argv splitting, patterns, tokens.

Ported from OpenSSH 9.2 (readconf.c keyword table, misc.c argv_split/percent_expand,
match.c match_pattern/match_pattern_list); newer keywords (up to 10.2) and Debian's GSSAPI
ones are known too, so a config written for a newer ssh is not refused.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import socket
from dataclasses import dataclass

_KEYWORDS = """
addkeystoagent addressfamily afstokenpassing batchmode bindaddress bindinterface canonicaldomains
canonicalizefallbacklocal canonicalizehostname canonicalizemaxdots canonicalizepermittedcnames
casignaturealgorithms certificatefile challengeresponseauthentication channeltimeout checkhostip
cipher ciphers clearallforwardings compression compressionlevel connectionattempts connecttimeout
controlmaster controlpath controlpersist dsaauthentication dynamicforward enableescapecommandline
enablesshkeysign escapechar exitonforwardfailure fallbacktorsh fingerprinthash
forkafterauthentication forwardagent forwardx11 forwardx11timeout forwardx11trusted gatewayports
globalknownhostsfile globalknownhostsfile2 gssapiauthentication gssapidelegatecredentials
gssapikeyexchange gssapitrustdns gssapirenewalforcesrekey gssapikexalgorithms gssapiclientidentity
gssapiserveridentity hashknownhosts host hostbasedacceptedalgorithms hostbasedauthentication
hostbasedkeytypes hostkeyalgorithms hostkeyalias hostname identitiesonly identityagent identityfile
identityfile2 ignoreunknown include ipqos kbdinteractiveauthentication kbdinteractivedevices
keepalive kerberosauthentication kerberostgtpassing kexalgorithms knownhostscommand localcommand
localforward loglevel logverbose macs match nohostauthenticationforlocalhost
numberofpasswordprompts obscurekeystroketiming passwordauthentication permitlocalcommand
permitremoteopen pkcs11provider port preferredauthentications protocol proxycommand proxyjump
proxyusefdpass pubkeyacceptedalgorithms pubkeyacceptedkeytypes pubkeyauthentication
refuseconnection rekeylimit remotecommand remoteforward requesttty requiredrsasize revokedhostkeys
rhostsauthentication rhostsrsaauthentication rsaauthentication securitykeyprovider sendenv
serveralivecountmax serveraliveinterval sessiontype setenv skeyauthentication smartcarddevice
stdinnull streamlocalbindmask streamlocalbindunlink stricthostkeychecking syslogfacility tag
tcpkeepalive tisauthentication tunnel tunneldevice updatehostkeys useprivilegedport user
userknownhostsfile userknownhostsfile2 useroaming usersh verifyhostkeydns versionaddendum
visualhostkey warnweakcrypto xauthlocation
"""  # one word per keyword reads best as text
KNOWN = frozenset(_KEYWORDS.split())
"""Every keyword ssh_config accepts; anything else is 'Bad configuration option'."""


def split_args(text: str) -> list[str]:
    """misc.c argv_split(terminate_on_comment=1): quotes, backslash escapes, ``#`` ends it.

    ValueError on an unterminated quote."""
    args: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == "#":
            break
        quote = ""
        arg: list[str] = []
        while i < n:
            c = text[i]
            if c == "\\" and i + 1 < n and (text[i + 1] in "'\"\\" or (not quote and text[i + 1] == " ")):
                i += 1
                arg.append(text[i])
            elif not quote and c in " \t":
                break
            elif not quote and c in "\"'":
                quote = c
            elif quote and c == quote:
                quote = ""
            else:
                arg.append(c)
            i += 1
        if quote:
            raise ValueError("invalid quotes")
        args.append("".join(arg))
    return args


def match_pattern(text: str, pattern: str) -> bool:
    """match.c match_pattern: ``*`` and ``?`` wildcards, case-sensitive, whole string."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def match_list(text: str, patterns: str, *, lower: bool = False) -> int:
    """match.c match_pattern_list: 1 positive, -1 a negated pattern matched, 0 no match."""
    positive = 0
    for sub in patterns.split(","):
        negated = sub.startswith("!")
        if negated:
            sub = sub[1:]
        if lower:
            sub = sub.lower()
        if match_pattern(text, sub):
            if negated:
                return -1
            positive = 1
    return positive


_DOLLAR = re.compile(r"\$\{([^}]*)\}")


def expand_tokens(text: str, tokens: dict[str, str], what: str, line: int = 0, *, dollar: bool = False) -> str:
    """misc.c percent_expand (and ``${VAR}`` first when ``dollar``); unknown token -> error."""
    if dollar and "${" in text:

        def env(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                raise SSHConfigError(f"{what}: env var ${{{m.group(1)}}} is not set")
            return os.environ[m.group(1)]

        text = _DOLLAR.sub(env, text)
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(text):
            raise SSHConfigError(f"{what}: invalid format (a lone % at the end of '{text}')")
        key = text[i + 1]
        if key == "%":
            out.append("%")
        elif key in tokens:
            out.append(tokens[key])
        else:
            where = f" line {line}" if line else ""
            raise SSHConfigError(f"{what}{where}: unknown token %{key} in '{text}'")
        i += 2
    return "".join(out)


class SSHConfigError(Exception):
    """A file OpenSSH would refuse: ``path`` and ``line`` say where."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.message, self.path, self.line = message, path, line
        where = f"{path} line {line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(where + message)


@dataclass(frozen=True)
class Account:
    """The local account, from the passwd database (ssh ignores $HOME)."""

    name: str
    home: str
    uid: int


def tilde(path: str, account: Account) -> str:
    """misc.c tilde_expand: ``~`` / ``~/x`` with the passwd home, ``~user/x`` with that user's."""
    if not path.startswith("~"):
        return path
    head, _, rest = path[1:].partition("/")
    if head:
        try:
            home = pwd.getpwnam(head).pw_dir
        except KeyError:
            raise SSHConfigError(f"tilde expansion: no such user {head}") from None
    else:
        home = account.home
    return home + ("" if home.endswith("/") else "/") + rest.lstrip("/")


def connection_tokens(
    account: Account, host: str, port: int, user: str, host_arg: str, key_alias: str
) -> dict[str, str]:
    """The %-tokens of OpenSSH 9.2's DEFAULT_CLIENT_PERCENT_EXPAND_ARGS."""
    this_host = socket.gethostname()
    conn_hash = hashlib.sha1((this_host + host + str(port) + user).encode()).hexdigest()
    return {
        "C": conn_hash,
        "L": this_host.split(".", 1)[0],
        "i": str(account.uid),
        "k": key_alias,
        "l": this_host,
        "n": host_arg,
        "p": str(port),
        "d": account.home,
        "h": host,
        "r": user,
        "u": account.name,
    }

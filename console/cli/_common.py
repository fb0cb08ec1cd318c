"""Options and output helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import BaseModel

from console.core.targets import MAX_HOSTS


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


# The SSH options every subcommand takes: (flags, dest, argparse keywords). One table, so that
# `global_argv` can hand them on to a console started by another (``serve``).
GLOBAL_OPTIONS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (
        ("-F", "--ssh-config"),
        "ssh_config",
        {"metavar": "FILE", "default": None, "help": "ssh_config file to read (default ~/.ssh/config)"},
    ),
    (("-l", "--login"), "login", {"metavar": "USER", "default": None, "help": "remote user"}),
    (("-p", "--port"), "port", {"metavar": "PORT", "type": int, "default": None, "help": "SSH port"}),
    (
        ("-i", "--identity"),
        "identity",
        {"metavar": "KEY", "action": "append", "default": None, "help": "private key file (repeatable)"},
    ),
    (
        ("--accept-new",),
        "accept_new",
        {
            "action": "store_true",
            "default": False,
            "help": "record unknown host keys in known_hosts (changed keys are always refused)",
        },
    ),
    (
        ("--known-hosts",),
        "known_hosts",
        {
            "metavar": "FILE",
            "default": None,
            "help": "known_hosts file (default: ssh_config's UserKnownHostsFile or ~/.ssh/known_hosts)",
        },
    ),
    (
        ("--connect-timeout",),
        "connect_timeout",
        {"metavar": "S", "type": float, "default": 10.0, "help": "SSH connect timeout in seconds (default 10)"},
    ),
    (
        ("--command-timeout",),
        "command_timeout",
        {"metavar": "S", "type": float, "default": 60.0, "help": "per-command timeout in seconds (default 60)"},
    ),
    (
        ("--output-limit",),
        "output_limit",
        {
            "metavar": "MIB",
            "type": _positive_int,
            "default": None,
            "help": "MiB of output (stdout + stderr) one remote command may print before it is ended (default 16)",
        },
    ),
    (
        ("--output-budget",),
        "output_budget",
        {
            "metavar": "MIB",
            "type": _positive_int,
            "default": None,
            "help": "MiB of output all running remote commands may hold together; past it the one holding "
            "the most is ended (default 256; at least --output-limit)",
        },
    ),
    (
        ("--max-hosts",),
        "max_hosts",
        {
            "metavar": "N",
            "type": _positive_int,
            "default": MAX_HOSTS,
            "help": f"refuse host lists naming more than N hosts, counted before expansion (default {MAX_HOSTS:,})",
        },
    ),
]


def add_global_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """SSH options, accepted before the subcommand (`cluster-console -F cfg discover ...`)
    and after it. On sub-parsers the defaults are suppressed so they never overwrite a value
    given before the subcommand."""
    g = parser.add_argument_group("SSH options")
    for flags, dest, kwargs in GLOBAL_OPTIONS:
        kw = dict(kwargs)
        if not top_level:
            kw["default"] = argparse.SUPPRESS
        g.add_argument(*flags, dest=dest, **kw)


def global_argv(args: argparse.Namespace) -> list[str]:
    """The SSH options of ``args`` that differ from their defaults, as command-line words."""
    argv: list[str] = []
    for flags, dest, kwargs in GLOBAL_OPTIONS:
        value = getattr(args, dest, kwargs["default"])
        if value == kwargs["default"]:
            continue
        if kwargs.get("action") == "store_true":
            argv.append(flags[-1])
        elif kwargs.get("action") == "append":
            for item in value:
                argv += [flags[-1], str(item)]
        else:
            argv += [flags[-1], str(value)]
    return argv


def to_jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj


def print_json(obj: Any) -> None:
    """Data to stdout as indented JSON."""
    json.dump(to_jsonable(obj), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def warn(message: str) -> None:
    """Diagnostics to stderr, never stdout."""
    print(message, file=sys.stderr)


def hosts_from_args(exprs: list[str], max_hosts: int = MAX_HOSTS) -> list[str]:
    """HOSTS arguments (NodeSet expressions, user@host:port, @hostfile) -> SSH targets.
    More than ``max_hosts`` (``--max-hosts``) is refused before anything is expanded."""
    from console.ops.hostfiles import expand_hosts

    return [str(t) for t in expand_hosts(exprs, max_hosts=max_hosts)]


def add_hosts_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "hosts",
        nargs="+",
        metavar="HOSTS",
        help="servers: NodeSet expressions (node[01-16], 10.0.0.[1-4]), user@host:port, or @hostfile",
    )


def stdout_console():
    """A rich Console on stdout (tables are data); plain when stdout is not a terminal."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else 200
    return Console(highlight=False, width=width)


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def byte_size(text: str) -> int:
    """argparse type: ``1G``, ``512M``, ``64K``, ``1GiB`` or a plain number of bytes (> 0)."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in _UNITS and t[-1:] else ""
    digits = t[: len(t) - len(unit)]
    if not digits.isdigit() or int(digits) <= 0:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use e.g. 1G, 512M, 64K or bytes")
    return int(digits) * _UNITS[unit]


def add_log_cap(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-cap",
        type=byte_size,
        default=1 << 30,
        metavar="SIZE",
        help="bytes of each rank's log kept in the run record (default 1G); then one 'truncated' line",
    )

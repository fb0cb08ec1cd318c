"""Options and output helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import BaseModel


def add_global_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """SSH options, accepted before the subcommand (`cluster-console -F cfg discover ...`)
    and after it. On sub-parsers the defaults are suppressed so they never overwrite a value
    given before the subcommand."""
    d = (lambda v: v) if top_level else (lambda v: argparse.SUPPRESS)
    g = parser.add_argument_group("SSH options")
    g.add_argument("-F", "--ssh-config", metavar="FILE", default=d(None),
                   help="ssh_config file to read (default ~/.ssh/config)")
    g.add_argument("-l", "--login", metavar="USER", default=d(None), help="remote user")
    g.add_argument("-p", "--port", metavar="PORT", type=int, default=d(None), help="SSH port")
    g.add_argument("-i", "--identity", metavar="KEY", action="append", default=d(None),
                   help="private key file (repeatable)")
    g.add_argument("--accept-new", action="store_true", default=d(False),
                   help="record unknown host keys in known_hosts (changed keys are always refused)")
    g.add_argument("--known-hosts", metavar="FILE", default=d(None),
                   help="known_hosts file (default: ssh_config's UserKnownHostsFile or ~/.ssh/known_hosts)")
    g.add_argument("--connect-timeout", metavar="S", type=float, default=d(10.0),
                   help="SSH connect timeout in seconds (default 10)")
    g.add_argument("--command-timeout", metavar="S", type=float, default=d(60.0),
                   help="per-command timeout in seconds (default 60)")


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


def hosts_from_args(exprs: list[str]) -> list[str]:
    """HOSTS arguments (NodeSet expressions, user@host:port, @hostfile) -> SSH targets."""
    from console.ops.hostfiles import expand_hosts

    return [str(t) for t in expand_hosts(exprs)]


def add_hosts_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hosts", nargs="+", metavar="HOSTS",
                        help="servers: NodeSet expressions (node[01-16], 10.0.0.[1-4]), "
                             "user@host:port, or @hostfile")


def stdout_console():
    """A rich Console on stdout (tables are data); plain when stdout is not a terminal."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else 200
    return Console(highlight=False, width=width)

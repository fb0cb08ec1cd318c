"""``cluster-console serve``: the console as a web page (textual-serve), behind a token.

    cluster-console serve                                  # the console, on 127.0.0.1:8000
    cluster-console -F cluster_config serve 'node[01-16]' --ranktable hccl.json
    cluster-console serve --demo --servers 4               # the demo, in the browser
    cluster-console serve --host 0.0.0.0 --public --token-file ~/.cc-token

Each browser connection starts its own console process (``python -m console tui ...`` or
``demo ...``) with the arguments given here; SSH options go before ``serve``. The page
address, token included, is printed on stderr. See :mod:`console.ui.web` for the gate.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import sys
from pathlib import Path

from console.cli._common import global_argv, hosts_from_args
from console.cli.tui import add_launch_pane_options, launch_pane_argv
from console.core.errors import InputError
from console.core.words import counted

ORDER = 95
DEFAULT_PORT = 8000
TOKEN_ENV = "CLUSTER_CONSOLE_SERVE_TOKEN"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    # No `common` parent: its -p/--port is the SSH port, and here --port is the web port.
    # SSH options go before the subcommand: `cluster-console -F cfg serve ...`.
    p = sub.add_parser(
        "serve",
        help="serve the console as a web page (reach it through ssh -L)",
        description="Serve the console as a web page with textual-serve. Bound to 127.0.0.1 by "
        "default: from a laptop, `ssh -L 8000:127.0.0.1:8000 jumphost` and open the "
        "printed address. Every page load needs the access token (printed with the "
        "address; random unless --token-file or $" + TOKEN_ENV + " gives one). SSH "
        "options (-F, -l, -p, -i, ...) go before `serve`.",
    )
    p.add_argument(
        "hosts",
        nargs="*",
        metavar="HOSTS",
        help="servers for the console (as for `tui`): NodeSet, user@host:port, @hostfile",
    )
    p.add_argument("--ranktable", metavar="FILE", help="rank table file to open (as for `tui`)")
    p.add_argument(
        "--demo", action="store_true", help="serve the demo (a simulated cluster per browser connection) instead"
    )
    p.add_argument("--servers", type=int, metavar="N", help="with --demo: number of simulated servers")
    p.add_argument("--product", choices=["A2", "A3"], help="with --demo: A2 or A3 servers")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address to listen on (default 127.0.0.1; others need --public)",
    )
    p.add_argument(
        "--port",
        dest="web_port",
        type=int,
        default=DEFAULT_PORT,
        metavar="PORT",
        help=f"web port (default {DEFAULT_PORT})",
    )
    p.add_argument(
        "--public",
        action="store_true",
        help="allow a non-loopback --host; needs a token from --token-file or $" + TOKEN_ENV,
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help="read the access token (first line, >= 16 characters) from FILE; a token "
        "on the command line would be visible to every local user in `ps`",
    )
    add_launch_pane_options(p)
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use, when it differs from http://HOST:PORT (e.g. behind a TLS proxy)",
    )
    p.set_defaults(func=run)


def _read_token(path: str) -> str:
    """The token file's first line; like ssh with a private key, refuse a file that other
    users can read."""
    file = Path(path).expanduser()
    try:
        mode = file.stat().st_mode
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--token-file {path}: cannot read it: {exc.strerror or exc}", path=path) from exc
    if mode & 0o077:
        raise InputError(
            f"--token-file {path}: readable by other users (mode {mode & 0o777:04o})",
            path=path,
            hint=f"chmod 600 {shlex.quote(path)}",
        )
    token = text.splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise InputError(f"--token-file {path}: the file is empty", path=path)
    return token


def resolve_token(args: argparse.Namespace, environ: dict[str, str]) -> tuple[str, bool]:
    """(token, given by the operator?) from --token-file, then $CLUSTER_CONSOLE_SERVE_TOKEN,
    else a fresh random one."""
    from console.ui.web import MIN_TOKEN_CHARS

    if args.token_file:
        token, source = _read_token(args.token_file), f"--token-file {args.token_file}"
    elif environ.get(TOKEN_ENV):
        token, source = environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"
    else:
        return secrets.token_urlsafe(24), False
    if len(token) < MIN_TOKEN_CHARS:
        raise InputError(f"{source}: the token has {counted(len(token), 'character')}; give at least {MIN_TOKEN_CHARS}")
    return token, True


def check_address(args: argparse.Namespace, token_given: bool) -> None:
    """Loopback unless --public, and --public only with an operator-chosen token."""
    from console.ui.web import is_loopback

    if not 1 <= args.web_port <= 65535:
        raise InputError(f"--port {args.web_port}: give a port from 1 to 65535")
    if is_loopback(args.host):
        return
    if not args.public:
        raise InputError(
            f"--host {args.host} is not a loopback address: anyone who can reach it could "
            "drive the console (often root, with SSH to the whole cluster)",
            hint="keep the default 127.0.0.1 and use `ssh -L`, or add --public with "
            f"--token-file FILE (or ${TOKEN_ENV})",
        )
    if not token_given:
        raise InputError(f"--public needs a token you chose: --token-file FILE or ${TOKEN_ENV}")


def app_argv(args: argparse.Namespace) -> list[str]:
    """The console command each browser connection runs: `python -m console [SSH options]
    tui|demo ...`, checked now so that a typo fails here, not in every browser tab."""
    argv = [sys.executable, "-m", "console", *global_argv(args)]
    if args.demo:
        if args.hosts or args.ranktable:
            raise InputError("--demo brings its own simulated servers: drop HOSTS and --ranktable")
        from console.cli.demo import demo_spec

        demo_spec(args.servers, args.product)  # refuses a bad --servers now
        argv.append("demo")
        if args.servers is not None:
            argv += ["--servers", str(args.servers)]
        if args.product:
            argv += ["--product", args.product]
        return argv + launch_pane_argv(args)
    if args.servers is not None or args.product:
        raise InputError("--servers and --product go with --demo")
    if args.hosts:
        hosts_from_args(args.hosts, args.max_hosts)  # refuses a bad expression or hostfile now
    argv += ["tui", *args.hosts]
    if args.ranktable:
        argv += ["--ranktable", args.ranktable]
    return argv + launch_pane_argv(args)


def _public_url(args: argparse.Namespace) -> str:
    if args.public_url:
        return args.public_url.rstrip("/")
    host = f"[{args.host}]" if ":" in args.host else args.host
    return f"http://{host}:{args.web_port}"


def run(args: argparse.Namespace) -> int:
    from console.ui.web import TokenServer, is_loopback

    token, given = resolve_token(args, dict(os.environ))
    os.environ.pop(TOKEN_ENV, None)  # the served consoles do not need it
    check_address(args, given)
    command = shlex.join(app_argv(args))
    server = TokenServer(
        command, token=token, host=args.host, port=args.web_port, title="Cluster Console", public_url=_public_url(args)
    )
    print(f"cluster-console serve: open {server.page_url}", file=sys.stderr)
    if not is_loopback(args.host):
        print(
            "cluster-console serve: warning: plain HTTP on a non-loopback address: the token "
            "crosses the network in clear; prefer ssh -L or a TLS proxy (--public-url)",
            file=sys.stderr,
        )
    sys.stderr.flush()
    server.serve()
    return 0

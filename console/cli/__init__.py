"""Command line: argument parsing and output formatting only (design.md §6).

stdout carries data only (tables, or JSON with ``--json``); diagnostics go to stderr.
Exit codes: 0 ok; 1 the check found a problem; 2 usage or input error; 3 could not reach
servers; 130 interrupted.

Each subcommand lives in its own module in this package and exposes
``register(subparsers, common)``; modules are found automatically, ordered by ``ORDER``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from console import __version__
from console.cli._common import add_global_options
from console.core.errors import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, ConsoleError


def _command_modules() -> list:
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "register"):
            mods.append(mod)
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cluster-console",
        description="Bring up and launch multi-server Ascend NPU clusters over SSH.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_global_options(parser, top_level=True)
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, top_level=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        mod.register(sub, common)
    return parser


class _StderrHandler(logging.Handler):
    """Log records of the ``console`` packages as plain lines on the *current* sys.stderr
    (diagnostics, e.g. ``Warning: Permanently added ...`` from ``console.remote.hostkeys``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def _log_to_stderr() -> None:
    logger = logging.getLogger("console")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.WARNING)


def raise_open_file_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: a launch keeps one SSH channel per server and
    one log file per rank open, past the usual soft limit of 1024. Failures are ignored."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):
        return
    # an unlimited hard limit is capped by the kernel (fs.nr_open): then try 2^20
    for target in (hard, 1 << 20):
        if soft != resource.RLIM_INFINITY and (target == resource.RLIM_INFINITY or soft < target):
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                return
            except (ValueError, OSError):
                continue


def _run(func, args: argparse.Namespace) -> int:
    result = func(args)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        # A bare `cluster-console` opens the console.
        args = parser.parse_args([*(argv or sys.argv[1:]), "tui"])
        func = getattr(args, "func", None)
        if func is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
    _log_to_stderr()
    raise_open_file_limit()
    try:
        return _run(func, args)
    except ConsoleError as exc:
        print(f"cluster-console: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cluster-console: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say what, keep the traceback for those who ask
        if os.environ.get("CLUSTER_CONSOLE_DEBUG"):
            raise
        print(
            f"cluster-console: internal error: {type(exc).__name__}: {exc}\n"
            "  hint: rerun with CLUSTER_CONSOLE_DEBUG=1 for the traceback, and report it",
            file=sys.stderr,
        )
        return EXIT_CHECK_FAILED

"""One error type for the whole project, mapped to the CLI's exit codes (design.md §6).

Every error names what it is about (host, file, field, command) so no traceback ever has
to reach the user.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import ValidationError

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


class ConsoleError(Exception):
    """A failure the user can act on.

    ``title`` is one short line; ``detail`` says what was found; ``hint`` what to do next.
    ``host``/``command``/``path`` say where it happened; ``line``/``column`` (1-based) where
    in a text (a file's JSON syntax error), so no one has to read them back out of the title.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self,
        title: str,
        detail: str = "",
        *,
        host: str | None = None,
        command: str | None = None,
        path: str | None = None,
        hint: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(title)
        self.title = title
        self.detail = detail
        self.host = host
        self.command = command
        self.path = path
        self.hint = hint
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.host, self.path) if p)
        text = f"{where}: {self.title}" if where else self.title
        if self.detail:
            text += f": {self.detail}"
        if self.command:
            text += f" (command: {self.command})"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "error": self.title,
            "detail": self.detail or None,
            "host": self.host,
            "command": self.command,
            "path": self.path,
            "hint": self.hint,
            "exit_code": self.exit_code,
        }


class InputError(ConsoleError):
    """Bad user input: a host expression, a file, a field. Exit 2."""

    exit_code = EXIT_USAGE


class CheckFailed(ConsoleError):
    """The check ran and found a problem (loss, invalid table, a failed rank). Exit 1."""

    exit_code = EXIT_CHECK_FAILED


class RemoteError(ConsoleError):
    """A server could not be reached or a remote command could not run. Exit 3."""

    exit_code = EXIT_UNREACHABLE


class OutputTooLarge(RemoteError):
    """A remote command printed more than the console keeps (``SSHOptions.output_limit``);
    it was ended. Exit 3, like other remote errors."""


def json_path(loc: Sequence[str | int]) -> str:
    """('server_list', 0, 'device', 1, 'rank_id') -> 'server_list[0].device[1].rank_id'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe_validation_error(exc: ValidationError, *, limit: int = 5, sep: str = "; ") -> str:
    """A pydantic error as the user should read it: ``servers[0].address: 10.0.0.1 is not a
    loopback address``, one entry per error (the first ``limit``, then ``+N more``), joined
    by ``sep``. The model's name ("1 validation error for Inventory") is left out."""
    lines = []
    for err in exc.errors(include_url=False)[:limit]:
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif err["type"] == "assertion_error":
            msg = msg.removeprefix("Assertion failed, ")
        elif "input" in err and not isinstance(err["input"], dict):
            msg = f"{msg}; got {json.dumps(err['input'], default=str)[:60]}"
        where = json_path(err["loc"])
        lines.append(f"{where}: {msg}" if where else msg)
    more = exc.error_count() - len(lines)
    if more > 0:
        lines.append(f"+{more} more")
    return sep.join(lines)

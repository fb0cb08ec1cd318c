"""One error type for the whole project, mapped to the CLI's exit codes (design.md §6).

Every error names what it is about (host, file, field, command) so no traceback ever has
to reach the user.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


class ConsoleError(Exception):
    """A failure the user can act on.

    ``title`` is one short line; ``detail`` says what was found; ``hint`` what to do next.
    ``host``/``command``/``path`` say where it happened.
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
    ) -> None:
        super().__init__(title)
        self.title = title
        self.detail = detail
        self.host = host
        self.command = command
        self.path = path
        self.hint = hint

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

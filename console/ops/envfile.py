"""Secret-safe ``--env`` values: ``--env NAME`` from this process's environment and
``--env-file FILE`` (``KEY=VALUE`` lines), so a token never sits in the console's command
line (``/proc/<pid>/cmdline`` is readable by every local user).

An env file is refused, like ssh refuses a private key, when group or others may read or
write it (any of mode 0o077) or when it is owned by neither you nor root; the error names
the file and its mode. Lines: see ``console.core.profiles.parse_env_file`` (errors name the
file and the line, never a value).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence

from console.core.errors import InputError
from console.core.profiles import parse_env_file, parse_env_items

MAX_ENV_FILE = 1 << 20


def read_env_file(path: str) -> dict[str, str]:
    """The variables of one env file, after its ownership and mode passed the checks."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError("cannot read the env file", exc.strerror or str(exc), path=path) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError("the env file is not a regular file", path=path)
        if st.st_uid not in (os.geteuid(), 0):
            raise InputError(
                "the env file is not yours",
                f"owned by uid {st.st_uid}",
                path=path,
                hint="it holds secrets: use a file of your own",
            )
        if st.st_mode & 0o077:
            raise InputError(
                "the env file is readable or writable by others",
                f"mode {stat.S_IMODE(st.st_mode):04o}",
                path=path,
                hint=f"chmod 600 {path}",
            )
        data = os.read(fd, MAX_ENV_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_ENV_FILE:
        raise InputError("the env file is too large", f"over {MAX_ENV_FILE} bytes", path=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("the env file is not UTF-8 text", f"byte {exc.start}", path=path) from None
    return parse_env_file(text, path)


def env_from_options(
    items: Sequence[str], files: Sequence[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``--env-file`` files in order, then ``--env`` items (which win); a bare ``--env NAME``
    takes its value from ``environ`` (default: this process's environment)."""
    env: dict[str, str] = {}
    for path in files:
        env.update(read_env_file(path))
    env.update(parse_env_items(list(items), os.environ if environ is None else environ))
    return env

"""Secrets never reach the disk or the screen: which environment variables are secret, and masking.

A variable is secret when its name (any case) contains TOKEN, SECRET, PASSWORD, PASSWD,
KEY, CREDENTIAL or AUTH -- ``HF_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ``DB_PASSWORD``,
``API_KEY``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``AUTH_HEADER``. Not secret, though they
match: names starting with ``MASTER_`` (``MASTER_ADDR``/``MASTER_PORT`` style launcher
settings) and names ending in ``_PATH``, ``_FILE``, ``_DIR`` or ``_SOCK`` (they name where a
secret lives, e.g. ``SSL_KEY_FILE``, ``SSH_AUTH_SOCK``; the value is a path, not the
secret). Masked values are written as ``***``; the ranks still get the real value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "***"
_SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH")
_NOT_SECRET = re.compile(r"^MASTER_|_(PATH|FILE|DIR|SOCK)$")
MIN_SCRUB_LEN = 4
"""Secret values shorter than this are masked by name only, not searched for in log lines
(scrubbing every ``1`` out of a log would garble it)."""


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return bool(_SECRET.search(upper)) and not _NOT_SECRET.search(upper)


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the value of every secret-looking name replaced by ``***``."""
    return {k: MASK if is_secret_name(k) else v for k, v in env.items()}


def secret_values(envs: Iterable[Mapping[str, str]]) -> list[str]:
    """The distinct values of secret-looking names worth searching for in text, longest first
    (so a value containing another is replaced whole)."""
    found = {v for env in envs for k, v in env.items()
             if is_secret_name(k) and len(v) >= MIN_SCRUB_LEN}
    return sorted(found, key=lambda v: (-len(v), v))


def scrub(text: str, values: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret value replaced by ``***``."""
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text

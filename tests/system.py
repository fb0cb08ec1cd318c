"""Tests that need a system component (sshd, network namespaces, nftables).

On a user's machine that lacks it they skip with a reason; CI sets
CLUSTER_CONSOLE_REQUIRE_SYSTEM=1, which turns those skips into failures: a CI run that
skips the real-server tests is a failing CI run.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_SYSTEM = os.environ.get("CLUSTER_CONSOLE_REQUIRE_SYSTEM") == "1"


def need(available: bool, reason: str) -> None:
    """Skip (or, in CI, fail) the calling test unless ``available``."""
    if available:
        return
    if REQUIRE_SYSTEM:
        pytest.fail(f"required system component missing (CLUSTER_CONSOLE_REQUIRE_SYSTEM=1): {reason}")
    pytest.skip(reason)

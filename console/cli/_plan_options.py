"""The launch-plan options that ``launch`` and its serving path both take from the command line."""

from __future__ import annotations

import argparse
from typing import Any

from console.core.profiles import parse_host_items
from console.ops.envfile import env_from_options
from console.ops.runrecord import new_run_id


def plan_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of ``build_launch_plan`` common to every launch (a fresh run id each call)."""
    return {
        "env": env_from_options(args.env, args.env_file),
        "setup": args.setup,
        "remote_ranktable": args.remote_ranktable,
        "hosts": parse_host_items(args.host),
        "master_port": args.master_port,
        "parallel": {k: getattr(args, k) for k in ("tp", "pp", "ep", "dp") if getattr(args, k)},
        "run_id": new_run_id(),
        "uploads": args.upload,
        "keep_remote": args.keep_remote,
        "force_remote_ranktable": args.force_remote_ranktable,
    }

"""No private attributes of the libraries we build on (Textual, asyncssh, ...).

A library's ``_name`` can change in any release without notice. The console reads none; the
few non-exported asyncssh entry points it does use are pinned below, so an upgrade that
changes them fails here, by name, rather than somewhere in a connection.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import asyncssh
from asyncssh.config import SSHClientConfig

ROOT = Path(__file__).resolve().parents[2] / "console"

OWN = {
    # (file, attribute): our own private names, used across our own modules
    ("core/ranktable/text.py", "_json_numbers"): "RankTable's private attr, set by its own codec",
    ("ops/pinglane.py", "_next"): "Lane.open (a classmethod) reading its own instance",
    ("sim/fake/answers.py", "_device_id"): "the simulator's own fake hccn_tool module",
}
DOCUMENTED = {
    "_exit": "os._exit: the documented way to end a process without cleanup",
    "_SubParsersAction": "argparse's add_subparsers() return type, used in annotations",
}


def _defined_names(paths: list[Path]) -> set[str]:
    """Every name the files define: functions, classes, assigned or annotated attributes and variables."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return names


def test_no_private_attribute_of_another_object_or_a_library_base_class() -> None:
    defined = _defined_names(list(ROOT.rglob("*.py")))
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        same_file = _defined_names([path])  # a module's own class's private attribute
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
                continue
            on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if (on_self and node.attr in defined) or node.attr in same_file:
                continue  # our own attribute
            if (rel, node.attr) in OWN or node.attr in DOCUMENTED:
                continue
            found.append(f"console/{rel}:{node.lineno}: {ast.unparse(node)}")
    assert found == [], "private attributes of other objects (a library's, most likely):\n" + "\n".join(found)


def test_pinned_asyncssh_entry_points() -> None:
    """``console.remote.options`` parses ssh_config once with ``SSHClientConfig.load`` (not
    exported by asyncssh) and hands it to connections as ``SSHClientConnectionOptions.config``."""
    load = list(inspect.signature(SSHClientConfig.load).parameters)
    assert load == ["last_config", "config_paths", "reload", "canonical", "final", "args"], load
    init = list(inspect.signature(SSHClientConfig.__init__).parameters)  # what *args fills
    assert init == ["self", "last_config", "reload", "canonical", "final", "local_user", "user", "host", "port"], init
    base = asyncssh.SSHClientConnectionOptions(config=[])
    assert hasattr(base, "config")

"""Import hygiene (design.md §2): the core is reachable without the TUI or SSH libraries,
and arrows point down the layer list only."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "console"


def _modules(package: str) -> list[str]:
    base = PKG / package
    mods = []
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods.append(".".join(parts))
    return mods


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


def test_core_loads_neither_textual_nor_asyncssh():
    loaded = _loaded_after_import(_modules("core"))
    assert not {m for m in loaded if m.split(".")[0] in ("textual", "asyncssh")}


def test_ops_and_remote_do_not_load_textual():
    loaded = _loaded_after_import(_modules("remote") + _modules("ops"))
    assert "textual" not in loaded


# which top-level console packages each layer may import
ALLOWED = {
    "core": {"core"},
    "remote": {"core", "remote"},
    "ops": {"core", "remote", "ops"},
    "sim": {"core", "sim"},
    "probe": {"probe"},
    "ui": {"core", "remote", "ops", "ui"},
    "cli": {"core", "remote", "ops", "sim", "ui", "cli"},
    "profiles": set(),  # data files (TOML) only
}
FORBIDDEN_THIRD_PARTY = {
    "core": {"textual", "asyncssh", "asyncio", "os", "subprocess", "socket"},
    "remote": {"textual"},
    "ops": {"textual", "asyncssh"},
    "sim": {"textual"},
    "probe": {"textual", "asyncssh", "pydantic"},
    "cli": {"textual", "asyncssh"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_point_down(layer):
    bad = []
    for path in sorted((PKG / layer).rglob("*.py")):
        for name in _imports(path):
            top, _, rest = name.partition(".")
            if top == "console" and rest:
                sub = rest.split(".")[0]
                if sub not in ALLOWED[layer] and sub not in ("__init__",):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
            elif top in FORBIDDEN_THIRD_PARTY.get(layer, ()):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_every_package_has_a_layer():
    """A package missing from ALLOWED would not be checked at all."""
    packages = {p.parent.name for p in PKG.glob("*/__init__.py")}
    assert packages == set(ALLOWED), f"give these a layer in ALLOWED: {sorted(packages - set(ALLOWED))}"


def test_ui_models_are_pure_state():
    """The panes' models (design.md §7) are testable without the TUI: no textual, directly or
    through what they import."""
    models = _modules("ui/models")
    assert len(models) >= 5
    assert "textual" not in _loaded_after_import(models)
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((PKG / "ui" / "models").rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] == "textual"
    ]
    assert not bad, "\n".join(bad)

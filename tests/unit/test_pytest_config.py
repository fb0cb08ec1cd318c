"""The test run itself: pytest's unraisable-exception plugin stays off (see pyproject.toml).

With it, a finalizer that raises while pytest formats a failure made the whole run die with
INTERNALERROR "SystemError: AST constructor recursion depth mismatch" on Python 3.11
(CPython gh-106905): the plugin's hook ast.parse()s inside pytest's own ast.parse.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_unraisable_exception_plugin_is_off(pytestconfig) -> None:
    assert not pytestconfig.pluginmanager.has_plugin("unraisableexception")


def test_a_finalizer_raising_during_ast_parse_leaves_the_parse_whole() -> None:
    """What the run relies on: with Python's own unraisable hook, a raising finalizer during
    ast.parse is printed and the parse is unharmed (with a hook that formats tracebacks in
    Python, as pytest's does, this SystemErrors on 3.11)."""
    code = textwrap.dedent(
        """
        import ast, gc
        class Bad:
            def __init__(self): self.me = self
            def __del__(self): raise RuntimeError("Event loop is closed")
        src = "\\n".join(f"x{i} = f(a[{i}] + b.c({i}, d={i}))" for i in range(300))
        gc.set_threshold(5, 1, 1)
        for _ in range(100):
            for _ in range(20): Bad()
            ast.parse(src)
        print("whole")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "whole" in done.stdout, done.stderr[-2000:]

"""The real host agent program with test code added before its ``main()`` call (to trace or
slow down one of its methods), for tests that run it as a real process."""

from __future__ import annotations

from collections.abc import Callable

from console.ops import agentlink

REAL_SOURCE = agentlink.agent_source


def source_with(extra: str) -> Callable[[], str]:
    """An ``agentlink.agent_source`` replacement: the real program, ``extra`` before main()."""

    def source() -> str:
        text = REAL_SOURCE().rstrip()
        main = 'if __name__ == "__main__":\n    main()'
        assert text.endswith(main), "the agent program ends with its main() call"
        return text[: -len(main)] + extra + "\n\n" + main + "\n"

    return source

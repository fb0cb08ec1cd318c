"""The Launch pane's model of a served model: where it serves, the answers to the prompts
sent to it. Pure Python (no textual): ``apply(event)`` takes ``ServiceReady`` and
``ServiceAnswer`` (``console.ops.serving``); other events are ignored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.core.errors import ConsoleError
from console.ops.serving import ServiceAnswer, ServiceReady
from console.ops.smoke import SmokeResult, SmokeTarget


@dataclass
class ServingView:
    target: SmokeTarget | None = None
    where: str = ""
    answers: list[SmokeResult] = field(default_factory=list)
    asking: str | None = None
    """The prompt on its way (None when none is)."""

    def apply(self, event: Any) -> bool:
        """True when the event was the service's."""
        match event:
            case ServiceReady(where=where, target=target):
                self.where, self.target = where, target
            case ServiceAnswer(result=result):
                self.answered(result)
                return True
            case _:
                return False
        return True

    def ask(self, prompt: str) -> None:
        self.asking = prompt

    def answered(self, result: SmokeResult) -> None:
        self.answers.append(result)
        self.asking = None

    def failure(self, prompt: str, exc: BaseException) -> SmokeResult:
        """The failed answer to ``prompt`` when sending it raised ``exc``."""
        error = str(exc) if isinstance(exc, ConsoleError) else f"{type(exc).__name__}: {exc}"
        return SmokeResult(ok=False, where=self.where, prompt=prompt, error=error)

    @property
    def ready(self) -> bool:
        return self.target is not None

    def text(self) -> str | None:
        """``serving at <server>:<port>`` with the last answer, or None before the service is."""
        if not self.ready:
            return None
        lines = [f"SERVING at {self.where}   (p: send a prompt)"]
        if self.answers:
            last = self.answers[-1]
            lines.append(f"> {last.prompt}")
            if last.ok:
                lines.append(last.answer.strip())
                lines.append(f"first token {last.ttft_s:.2f} s, total {last.total_s:.2f} s")
            else:
                lines.append(f"request FAILED: {last.error}")
        if self.asking is not None:
            lines.append(f"> {self.asking}  (waiting for the answer...)")
        return "\n".join(lines)

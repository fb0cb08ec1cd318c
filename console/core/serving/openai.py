"""The first request: an OpenAI-compatible completion, streamed (server-sent events)."""

from __future__ import annotations

import json
from typing import Any, Literal

Api = Literal["completions", "chat"]
PATHS: dict[str, str] = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}
DEFAULT_PROMPT = "What's Deep Learning?"
BODY_LIMIT = 64 << 10
"""Bytes of an error body kept for the report."""


def request_body(api: Api, model: str, prompt: str, max_tokens: int) -> bytes:
    doc: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "stream": True}
    if api == "chat":
        doc["messages"] = [{"role": "user", "content": prompt}]
    else:
        doc["prompt"] = prompt
    return json.dumps(doc).encode()


def sse_piece(line: str) -> tuple[str | None, bool]:
    """One line of the stream -> (text piece or None, done). ``data: [DONE]`` ends it; lines
    that are not ``data:`` events, or not JSON, carry nothing."""
    if not line.startswith("data:"):
        return None, False
    data = line[5:].strip()
    if data == "[DONE]":
        return None, True
    try:
        doc = json.loads(data)
    except ValueError:
        return None, False
    choices = doc.get("choices") if isinstance(doc, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, False
    choice = choices[0]
    text = choice.get("text")
    if text is None and isinstance(choice.get("delta"), dict):
        text = choice["delta"].get("content")
    return (text if isinstance(text, str) else None), False

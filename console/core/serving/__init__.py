"""Serving stacks (pure): MindIE Service's rank-table rules and config.json, vLLM-Ascend's
data-parallel layout, and the OpenAI-compatible first request (body and streamed answer)."""

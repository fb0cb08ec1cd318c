"""Fake ``hccn_tool`` and ``npu-smi`` of the simulated cluster.

Stdlib-only modules run as scripts (``python -I -S``) thousands of times: they import each
other as top-level modules (the wrapper puts this folder on ``sys.path``) and read one small
JSON state file per server. Never import pydantic or the rest of ``console`` here.
"""

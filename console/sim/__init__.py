"""Simulated Ascend cluster (design.md §5): a cluster spec (``spec``), fake ``hccn_tool`` /
``npu-smi`` (``fake``, stdlib only), each server's root folder and tool state (``state``), one
asyncssh server per loopback address (``server``) and ``SimCluster`` to run them (``cluster``).

Imports only ``console.core`` and asyncssh; nothing here imports ``console.remote``/``ops``/``ui``.
"""

"""Cluster Console: bring up and launch multi-server Ascend NPU inference clusters."""

__version__ = "0.1.0"

"""Bundled launch profiles (TOML). Loaded by console.ops.profiles."""

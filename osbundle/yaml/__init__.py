"""Hardened YAML: bytes to JSON-like data plus the position of every node, within fixed limits."""

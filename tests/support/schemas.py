"""Helpers for tests that read the JSON Schemas in `schemas/`."""

from __future__ import annotations

__all__ = ["patterns"]


def patterns(node: object) -> set[str]:
    """Every `pattern` string anywhere in a schema (to check that each has a form in words)."""
    if isinstance(node, dict):
        found = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
        return found.union(*(patterns(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(patterns(v) for v in node))
    return set()

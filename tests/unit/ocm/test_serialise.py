"""Descriptor YAML: libyaml's emitter (used when PyYAML has it) writes the bytes PyYAML's own emitter writes."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gardenlinux_ocm.ocm import serialise
from gardenlinux_ocm.plan.model import ReleasePlan


class _PurePython(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _pure(descriptor: Any) -> bytes:
    return yaml.dump(dict(descriptor), Dumper=_PurePython, sort_keys=True, default_flow_style=False,
                     allow_unicode=True, width=4096).encode("utf-8")


TRICKY = {"a": "x: y", "b": "ünïcode ✓", "c": "1473.0", "d": "", "e": None, "g": {"k": [1, 2.5, True, False]},
          "f": ["-", "*", "&x", "#c", "'q'", '"dq"', "multi\nline", " lead", "trail ", "yes", "no", "on", "~", "0x1F",
                "1e3", "2024-04-12T00:00:00Z", "a" * 5000]}


def test_libyaml_is_used_when_present() -> None:
    assert issubclass(serialise._Dumper, getattr(yaml, "CSafeDumper", yaml.SafeDumper))


@pytest.mark.parametrize("which", ["release", "tricky"])
def test_both_emitters_write_the_same_bytes(plan: ReleasePlan, which: str) -> None:
    descriptors = [c.descriptor for c in plan.components] if which == "release" else [TRICKY]
    for descriptor in descriptors:
        assert serialise.descriptor_yaml(descriptor) == _pure(descriptor)

"""The bounded reader: size, depth and YAML rules, checked before any parser can recurse or expand."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
import yaml

from gardenlinux_ocm.bounded import MAX_DEPTH, check_json_depth, json_document, read_capped, yaml_document
from gardenlinux_ocm.errors import RefusedDocument
from gardenlinux_ocm.oci.download import flavor_files
from gardenlinux_ocm.oci.graph import successors
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.model import Descriptor, MediaType
from gardenlinux_ocm.ocm._ctf_index import ArtifactIndex
from gardenlinux_ocm.ocm.fetch import load_descriptor

_DEEP = 100_000
_MANIFEST = Descriptor(media_type=MediaType.OCI_MANIFEST, digest="sha256:" + "0" * 64, size=1)


class _Loader(yaml.CSafeLoader):
    pass


def _refused(fn: object, *args: object, **kwargs: object) -> RefusedDocument:
    assert callable(fn)
    with pytest.raises(RefusedDocument) as info:
        fn(*args, **kwargs)
    return info.value


@pytest.mark.parametrize(
    "text",
    [b"[" * _DEEP + b"]" * _DEEP, b'{"a":' * _DEEP + b"1" + b"}" * _DEEP, b"[" * _DEEP, b'{"a": [' + b"[{" * _DEEP],
    ids=["arrays", "objects", "unclosed", "mixed"],
)
def test_deep_json_is_refused_before_parsing(text: bytes) -> None:
    started = time.monotonic()
    error = _refused(json_document, text, what="manifest", where="registry/repo@sha256:1", limit=1 << 30)
    assert time.monotonic() - started < 2
    assert "registry/repo@sha256:1" in error.message
    assert f"deeper than {MAX_DEPTH} levels" in error.message


def test_brackets_in_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 1000, "b": '\\"[[[[' * 100, "c": [[["x]]]]]"]]]})
    assert check_json_depth(text, what="manifest", where="w") == 4
    assert json_document(text.encode(), what="manifest", where="w", limit=1 << 20)["c"] == [[["x]]]]]"]]]


def test_the_depth_bound_itself_is_accepted() -> None:
    text = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert check_json_depth(text, what="m", where="w") == MAX_DEPTH
    _refused(check_json_depth, b"[" + text + b"]", what="m", where="w")


def test_a_document_over_its_size_bound_names_the_bound() -> None:
    error = _refused(json_document, b"{}" + b" " * 5000, what="token answer", where="token for r.example", limit=4096)
    assert error.message == "token for r.example: the token answer has more than 4 KiB, the bound for a token answer"


def test_syntax_errors_are_left_to_the_caller() -> None:
    with pytest.raises(json.JSONDecodeError):
        json_document(b"{nope", what="m", where="w", limit=100)


def test_read_capped_stops_at_the_bound() -> None:
    class Endless(io.RawIOBase):
        def readinto(self, b: bytearray) -> int:  # type: ignore[override]  # RawIOBase's buffer type
            b[:] = b"x" * len(b)
            return len(b)

    _refused(read_capped, Endless(), limit=1 << 20, what="signature", where="signer")
    assert read_capped(io.BytesIO(b"abc"), limit=3, what="s", where="w") == b"abc"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: &x [1, 2]\nb: *x\n", "defines the anchor &x"),
        ("a: [1]\nb: *x\n", "alias"),  # an undefined alias is refused as an alias, not as a parser error
        ("a: !!python/object:os.system ls\n", "explicit tag"),
        ("a: !custom 1\n", "explicit tag"),
        ("[" * 50_000, "deeper than 64"),
        ("- " * 50_000 + "x\n", "deeper than 64"),
        ("a:\n" + "".join(" " * i + "a:\n" for i in range(1, 200)), "deeper than 64"),
    ],
    ids=["anchor", "alias", "python-tag", "custom-tag", "deep-flow", "deep-block", "deep-mapping"],
)
def test_hostile_yaml_is_refused(text: str, problem: str) -> None:
    started = time.monotonic()
    error = _refused(yaml_document, text, what="component descriptor", where="ca:x", limit=1 << 20, loader=_Loader)
    assert time.monotonic() - started < 2
    assert problem in error.message


def test_a_billion_laughs_descriptor_is_refused_quickly() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    bomb = ("meta: {schemaVersion: v2}\ncomponent:\n  labels:\n" + "\n".join("    " + line for line in lines)).encode()
    error = _refused(load_descriptor, bomb, "registry/component-descriptors/x:1")
    assert "anchors or aliases" in error.message


def test_too_many_nodes_are_refused() -> None:
    text = "[" + "1," * 2000 + "1]"
    error = _refused(yaml_document, text, what="descriptor", where="w", limit=1 << 20, loader=_Loader, nodes=1000)
    assert "more than 1000 values" in error.message


def test_plain_descriptors_load_as_before() -> None:
    text = "meta:\n  schemaVersion: v2\ncomponent:\n  name: x\n  version: '1'\n  creationTime: 2024-01-01T00:00:00Z\n"
    doc = load_descriptor(text.encode(), "w")
    assert doc["component"]["creationTime"] == "2024-01-01T00:00:00Z"  # timestamps stay strings
    assert load_descriptor(b'{"component": {"name": "x"}}', "w") == {"component": {"name": "x"}}


def test_the_readers_use_the_bound() -> None:
    deep = b'{"layers": ' + b"[" * _DEEP
    _refused(flavor_files, deep, "r/gardenlinux:1")
    _refused(successors, _MANIFEST, deep)
    _refused(ArtifactIndex.from_json, deep, "ctf:x/artifact-index.json")


def test_a_layout_with_a_deep_index_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "gardenlinux"
    repo.mkdir()
    (repo / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (repo / "index.json").write_bytes(b'{"manifests": ' + b"[" * _DEEP)
    target = LayoutTarget(tmp_path, read_only=True)
    with pytest.raises(RefusedDocument) as info:
        target.tags("gardenlinux")
    assert "deeper than" in str(info.value)


_PLAIN = """\
meta: {schemaVersion: v2}
component:
  name: github.com/gardenlinux/gardenlinux
  version: '1473.0'
  numbers: [1, -2, 0x1f, 1.5, .inf, 1e3, 012]
  flags: [true, false, yes, no, on, null, ~, '']
  quoted: ["1", 'true', "null"]
  empty: {}
  nested: {a: [{b: [c, {d: e}]}]}
  text: |
    two
    lines
  when: 2024-01-01T00:00:00Z
  "1": one
  2: two
"""


@pytest.mark.parametrize("loader", [yaml.SafeLoader, yaml.CSafeLoader], ids=["python", "libyaml"])
def test_documents_load_as_yaml_load_loads_them(loader: type[yaml.SafeLoader]) -> None:
    class Loader(loader):  # type: ignore[valid-type,misc]  # a subclass per parametrised loader
        pass

    assert yaml_document(_PLAIN, what="d", where="w", limit=1 << 20, loader=Loader) == yaml.load(_PLAIN, Loader)


def test_a_published_descriptor_loads_as_before(published: Path) -> None:
    from gardenlinux_ocm.ocm.fetch import _Loader, fetch_component

    cv = fetch_component(LayoutTarget(published, read_only=True), "github.com/gardenlinux/gardenlinux", "1473.0")
    assert cv.descriptor == yaml.load(cv.descriptor_bytes, _Loader)  # noqa: S506 - a SafeLoader subclass


@pytest.mark.parametrize(("text", "problem"), [("a: 1\n---\nb: 2\n", "single document"),
                                               ("<<: {a: 1}\n", "merge key"),
                                               ("? [a]\n: 1\n", "key that is a list"),
                                               ("a: = \n", "constructor")])
def test_what_yaml_load_refuses_is_refused(text: str, problem: str) -> None:
    with pytest.raises((yaml.YAMLError, RefusedDocument)) as info:
        yaml_document(text, what="d", where="w", limit=1 << 20, loader=_Loader)
    assert problem in str(info.value)

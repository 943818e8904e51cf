"""JSON-Schema errors in words (pure): what is wrong at which key path, the value as written, and what to write.

Patterns are never shown: each schema pattern has a description of its form in `PATTERN_FORMS` (a test checks that
every pattern of both schemas has one). Values that YAML read as something other than a string are shown as they
are written in the file, with a hint to quote them.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import jsonschema

from .load import SpecDocument, Written
from .version import MAX_VERSION_LENGTH, VERSION_FORM, VERSION_PATTERN, diagnose_version

__all__ = ["Problem", "describe", "did_you_mean", "PATTERN_FORMS", "TIME_FORM", "FORMAT_CHECKER", "utc_time_problem"]

TIME_FORM = 'an RFC 3339 UTC time like "2024-04-12T00:00:00Z"'
_TIME_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
_TIME_RE = re.compile(_TIME_PATTERN)
_COMMIT_RE = "^[0-9a-f]{40}$"
_CNAME = "a cname like aws-gardener_prod (lowercase elements joined by '-', then '_flags')"
_TYPE = "a type like virtual_machine_image or gardenlinux.io/kernel (starting with a letter)"
_URL = "an https:// URL without spaces"

PATTERN_FORMS: Mapping[str, str] = {
    VERSION_PATTERN: VERSION_FORM,
    _COMMIT_RE: "a git commit: 40 lowercase hex digits",
    _TIME_PATTERN: TIME_FORM,
    "^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*(_[a-z0-9]+)*$": _CNAME,
    "^_?[a-zA-Z0-9][a-zA-Z0-9-]*$": "a feature name like base or _prod (letters, digits and '-', maybe after one '_')",
    "^https://[^\\s]+$": _URL,
    "^[a-z0-9][a-z0-9.-]*[a-z0-9]$": "a file suffix like tar or pxe.tar.gz (lowercase letters, digits, '.', '-')",
    "^[a-zA-Z][a-zA-Z0-9._/+-]*$": _TYPE,
    "^[a-z0-9.-]+(:[0-9]+)?/[^\\s]+$": "an image reference like europe-docker.pkg.dev/project/image:1.0",
    "^[a-z][-a-z0-9]*([.][a-z][-a-z0-9]*)*[.][a-z]{2,}(/[a-z][-a-z0-9_]*([.][a-z][-a-z0-9_]*)*)+$": (
        "an OCM component name like github.com/gardenlinux/gardenlinux"
    ),
    "^[a-z0-9]([-_+a-z0-9]*[a-z0-9])?$": "a name like rootfs or package-list (lowercase letters, digits, '-_+')",
    "^[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*$": (
        "an OCI repository name like gardenlinux or gardenlinux/fips"
    ),
    "^[a-z]+/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*$": "a media type like application/io.gardenlinux.kernel",
    "^[a-z][a-z0-9]*$": "a platform name like aws (lowercase letters and digits)",
    "^[a-z][a-z0-9-]*$": "a platform variant like vmware or metal (lowercase letters, digits and '-')",
    "^[*]([.][a-z0-9][a-z0-9-]*)+$": "a file pattern: '*' then a suffix, like *.log or *.test.xml",
    "^[a-z]+/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+{}*-]*$": (
        "a media type like application/io.gardenlinux.log, with {*} for what a pattern matched"
    ),
    "^[a-z][a-zA-Z0-9]*(-[a-z][a-zA-Z0-9]*)*(_[a-z0-9]+)*$": (
        "a container cname like container or container-pythonDev (letters, digits, words joined by '-')"
    ),
    "^([A-Za-z0-9_][A-Za-z0-9_.-]*/)*[A-Za-z0-9_{][A-Za-z0-9_.{}-]*[.]oci$": (
        "a relative path of an .oci file, with {arch}, {version} or {commit8}, like bare_flavors/python-{arch}.oci"
    ),
}

_TYPE_WORDS = {
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def _alternatives(schemas: Any) -> str:
    """`oneOf` alternatives in words, from the keys each requires: 'suffix', or 'pattern' with 'identity'."""
    words = []
    for alt in schemas if isinstance(schemas, list) else []:
        keys = [f"'{k}'" for k in alt.get("required", [])] if isinstance(alt, dict) else []
        words.append(" with ".join(keys) or "another form")
    return ", or ".join(words) or "the alternatives the schema describes"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One problem found in a spec document: the key path, what is wrong (one sentence), what to do."""

    path: tuple[str | int, ...]
    message: str
    hint: str | None = None


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def utc_time_problem(text: str) -> str | None:
    """None if `text` is a real UTC time in the form 2024-04-12T00:00:00Z; otherwise why it is not."""
    if _TIME_RE.match(text) is None:
        return f"is not {TIME_FORM}"
    try:
        datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]), int(text[17:19]))
    except ValueError as e:
        return f"is not a real date and time ({e})"
    return None


FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_utc_time(instance: object) -> bool:
    """The schema's pattern reports the form; this check parses what has the form as a real date and time."""
    if isinstance(instance, str) and _TIME_RE.match(instance):
        problem = utc_time_problem(instance)
        if problem is not None:
            raise ValueError(problem)
    return True


def _value(doc: SpecDocument, path: tuple[str | int, ...], inst: Any) -> str:
    """The value as the user wrote it: strings quoted and shortened, other YAML scalars in their written form."""
    written = doc.written.get(path)
    if written is not None:
        if written.kind == "null":
            return "nothing" if not written.text or written.text == "~" else f"null (written {written.text})"
        return f"the unquoted {written.kind} {written.text}"
    if isinstance(inst, str):
        return repr(inst if len(inst) <= 60 else inst[:57] + "...")
    if inst is None:
        return "nothing"
    if isinstance(inst, dict):
        return "a mapping"
    if isinstance(inst, list):
        return "a list"
    return repr(inst)


def _quote_hint(written: Written | None) -> str | None:
    if written is None or written.kind == "null":
        return None
    what = (
        "YAML reads an unquoted timestamp as a date"
        if written.kind == "timestamp"
        else f"YAML reads it as a {written.kind}"
    )
    return f'quote it: "{written.text}" ({what}, not a string)'


def _pattern(doc: SpecDocument, path: tuple[str | int, ...], inst: str, pattern: str) -> Problem:
    if pattern == VERSION_PATTERN:
        problem = diagnose_version(inst)
        if problem is not None:
            return Problem(path=path, message=f"{_value(doc, path, inst)} {problem.message}", hint=problem.hint)
    form = PATTERN_FORMS.get(pattern, "the form the schema describes")
    hint = None
    if pattern == _COMMIT_RE and re.fullmatch(r"[0-9a-fA-F]+", inst):
        hint = "write it in lowercase" if len(inst) == 40 else f"give all 40 digits, not {len(inst)}"
    return Problem(path=path, message=f"{_value(doc, path, inst)} is not {form}", hint=hint)


def _first_repeated(items: list[Any]) -> Any:
    seen: list[Any] = []
    for item in items:
        if item in seen:
            return item
        seen.append(item)
    return None


def describe(doc: SpecDocument, error: jsonschema.ValidationError) -> Problem:
    """One sentence per schema error: what is wrong and what is expected, never a regex or a Python repr."""
    path = tuple(error.absolute_path)
    v, schema, inst = error.validator, error.schema, error.instance
    if "propertyNames" in error.relative_schema_path and isinstance(inst, str):
        path = (*path, inst)  # a bad key: the error is reported on the mapping, the key is the instance
    if v == "additionalProperties" and isinstance(inst, dict) and isinstance(schema, dict):
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(str(k) for k in inst if k not in allowed)
        key = extra[0] if extra else "?"
        return Problem(
            path=(*path, key),
            message=f"unknown key '{key}'; allowed keys: {', '.join(allowed)}{did_you_mean(key, allowed)}",
        )
    if v == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else error.message
        return Problem(path=path, message=f"missing required key '{missing}'")
    if v == "enum":
        choices = ", ".join(map(str, cast(list[Any], error.validator_value)))
        return Problem(path=path, message=f"{_value(doc, path, inst)} is not allowed; expected one of: {choices}")
    if v == "pattern" and isinstance(inst, str):
        return _pattern(doc, path, inst, str(error.validator_value))
    if v == "format" and isinstance(inst, str):
        problem = str(error.cause) if error.cause else "is not valid"
        return Problem(path=path, message=f"{_value(doc, path, inst)} {problem}", hint=f"write {TIME_FORM}")
    if v == "type" and path == () and inst is None:
        return Problem(path=path, message="is empty", hint="a spec file is a YAML mapping of keys to values")
    if v == "type":
        expected = _TYPE_WORDS.get(str(error.validator_value), str(error.validator_value))
        written = doc.written.get(path)
        return Problem(
            path=path, message=f"expected {expected}, found {_value(doc, path, inst)}", hint=_quote_hint(written)
        )
    if v == "maxLength" and path == ("version",):
        return Problem(
            path=path, message=f"is longer than {MAX_VERSION_LENGTH} characters", hint=f"write {VERSION_FORM}"
        )
    if v in ("minItems", "minProperties") and isinstance(inst, list | dict):
        return Problem(path=path, message=f"needs at least {error.validator_value} entries, found {len(inst)}")
    if v == "minLength":
        return Problem(
            path=path, message=f"{_value(doc, path, inst)} is shorter than {error.validator_value} characters"
        )
    if v == "maxLength":
        return Problem(path=path, message=f"is longer than {error.validator_value} characters")
    if v == "oneOf":
        return Problem(path=path, message=f"needs exactly one of: {_alternatives(error.validator_value)}")
    if v == "uniqueItems" and isinstance(inst, list):
        return Problem(path=path, message=f"lists {_first_repeated(inst)!r} more than once")
    return Problem(path=path, message=str(error.message))

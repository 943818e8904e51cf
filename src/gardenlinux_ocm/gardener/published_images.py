"""Published images (`--published-images FILE`): glci's publishing output per flavor, checked, for the descriptor label.

Once the images are on the clouds, each flavor's publishing output becomes the label `PUBLISHED_IMAGES_LABEL`
(`gardener.cloud/gardenlinux/ci/published-image-metadata`) of the flavor's `gardenlinux` resource, as glci's
`internal/ocm/ocm.go` `AddPublicationOutput` does. FILE is YAML or JSON (JSON is read as YAML, through the same
bounded loader as the specs). It maps each flavor (`<cname>-<arch>`) to one provider's output, in glci's shapes
(`schemas/published-images.schema.json`):

- aws: `{published_aws_images: [{ami_id, aws_region_id, image_name, cloud?}]}`. Source: gardenlinux/glci
  `internal/cloudprovider/aws.go` `awsPublishingOutput`/`awsPublishedImage`, where `cloud` is "public" or "China".
  gardenlinux/glci-legacy `glci/model.py` `AwsPublishedImageSet` has no `cloud`, so it stays optional.
- azure: `{published_gallery_images: [{azure_cloud, community_gallery_image_id, hyper_v_generation}]}`. Source:
  glci `azure.go` `azurePublishingOutput` (cloud "public" or "china", generation "V1" or "V2"). glci-legacy's
  `AzureImageGalleryPublishedImage` has the same fields; its `published_marketplace_images` are not accepted.
- gcp: `{gcp_image_name, gcp_project_name}`. Source: glci `gcp.go` `gcpPublishingOutput` and glci-legacy
  `GcpPublishedImage`.
- openstack: `{published_openstack_images: [{image_id, image_name, region_name, variant?}]}`. Source: glci
  `openstack.go` `openstackPublishingOutput` (variant "vmware" or "metal"). glci-legacy `OpenstackPublishedImageSet`
  has no variant.
- alicloud: `{published_alicloud_images: [{image_id, image_name, region_id}]}`. Source: glci `aliyun.go`
  `aliyunPublishingOutput` and glci-legacy `AlicloudPublishedImageSet`.

The value forms (AMI and image ids, regions, gallery ids) follow these sources and Garden Linux's release notes. The
provider must fit the flavor's platform, the cname's first element, as glci's `CanPublish` checks it: ali publishes to
alicloud, openstack and openstackbaremetal to openstack, aws, azure and gcp to themselves.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import json
import stat
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import jsonschema

from ..errors import SpecError
from ..spec.load import SpecDocument, load_document, path_text
from ..spec.messages import Problem, describe, did_you_mean
from ..spec.model import parse_cname
from .providers import PLATFORM_PROVIDERS, Provider

__all__ = [
    "Provider",
    "PublishedImage",
    "PublishedImages",
    "load_published_images",
    "provider_of",
    "unknown_flavors",
    "PLATFORM_PROVIDERS",
    "PATTERN_FORMS",
    "SCHEMA",
]

SCHEMA = "published-images.schema.json"
_MAX_SHOWN = 10  # problems listed in one error, as for the specs
_MAX_COLLECTED = 1000  # top-level schema errors collected at most


# The required top-level keys of each shape (the schema's `$defs/<provider>/required`; a test keeps them equal).
_KEYS: Mapping[Provider, tuple[str, ...]] = MappingProxyType(
    {
        Provider.AWS: ("published_aws_images",),
        Provider.AZURE: ("published_gallery_images",),
        Provider.GCP: ("gcp_image_name", "gcp_project_name"),
        Provider.OPENSTACK: ("published_openstack_images",),
        Provider.ALICLOUD: ("published_alicloud_images",),
    }
)

_FLAVOR_PATTERN = "^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*(_[a-z0-9]+)*-(amd64|arm64)$"  # the spec's cname, then the arch
PATTERN_FORMS: Mapping[str, str] = MappingProxyType(
    {
        _FLAVOR_PATTERN: "a flavor like aws-gardener_prod-amd64 (a cname, '-', then amd64 or arm64)",
        "^ami-[0-9a-f]{8,17}$": "an AMI id like ami-0123456789abcdef0 ('ami-', then 8 or 17 lowercase hex digits)",
        "^[a-z]+(-[a-z]+)+-[0-9]+$": "an AWS region like eu-central-1 (lowercase words joined by '-', then a number)",
        "^/CommunityGalleries/[^/\\s]+/Images/[^/\\s]+/Versions/[^/\\s]+$": (
            "a community gallery image id like /CommunityGalleries/<gallery>/Images/<definition>/Versions/<version>"
        ),
        "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$": (
            "a GCP image name (up to 63 lowercase letters, digits and '-', starting with a letter, not ending in '-')"
        ),
        "^[a-z][-a-z0-9]{4,28}[a-z0-9]$": (
            "a GCP project id like sap-se-gcp-gardenlinux (6 to 30 lowercase letters, digits and '-')"
        ),
        "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$": (
            "an OpenStack image id: a lowercase UUID like 15fc38b3-1cee-4c0a-829a-ef1f7faa1920"
        ),
        "^m-[0-9a-z]+$": "an Alibaba Cloud image id like m-gw86dlqmpaugljiykx91 ('m-', then lowercase letters, digits)",
        "^[a-z]{2}(-[a-z0-9]+)+$": "an Alibaba Cloud region like cn-hangzhou or eu-central-1",
    }
)

_SCHEMA_HINT = f"the schema is schemas/{SCHEMA}"
_TOP_HINT = "the file maps each flavor (like aws-gardener_prod-amd64) to its provider's publishing output"
_ARCH_HINT = "a flavor ends in its architecture, -amd64 or -arm64; x86_64 is amd64, aarch64 is arm64"


def _shape_text(provider: Provider) -> str:
    return f"{provider} ({', '.join(_KEYS[provider])})"


_SHAPES = ", ".join(_shape_text(p) for p in Provider)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PublishedImage:
    """One flavor's publishing output: its provider and the label value, exactly as it goes into the descriptor."""

    flavor: str
    provider: Provider
    value: dict[str, Any]  # plain YAML/JSON data: dicts, lists and strings


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PublishedImages:
    """The checked content of a published-images file, flavors in file order; `file` is its name as given."""

    file: str
    images: tuple[PublishedImage, ...]

    @classmethod
    def from_document(cls, doc: SpecDocument) -> PublishedImages:
        """Validate a loaded file (pure): the schema, then that each provider fits its flavor's platform.

        Raises one `SpecError` naming the file and listing every problem with its key path and line.
        """
        problems = _schema_problems(doc)
        if problems:
            raise _error(doc, problems)
        images = tuple(
            PublishedImage(flavor=flavor, provider=provider_of(output), value=copy.deepcopy(output))
            for flavor, output in doc.data.items()
        )
        misfits = [p for p in map(_platform_problem, images) if p is not None]
        if misfits:
            raise _error(doc, misfits)
        return cls(file=doc.file, images=images)

    @property
    def flavors(self) -> tuple[str, ...]:
        return tuple(image.flavor for image in self.images)

    def get(self, flavor: str) -> PublishedImage | None:
        """The publishing output of `flavor`, or None if the file has none for it."""
        return next((image for image in self.images if image.flavor == flavor), None)


def provider_of(output: Mapping[str, Any]) -> Provider:
    """The provider whose shape a (schema-valid) publishing output has; ValueError if it has none or several."""
    found = [p for p, keys in _KEYS.items() if keys[0] in output]
    if len(found) != 1:
        raise ValueError(f"not the publishing output of exactly one provider; expected one of: {_SHAPES}")
    return found[0]


def unknown_flavors(images: PublishedImages, known: Iterable[str]) -> list[str]:
    """The flavors of `images` that are not in `known` (the release's flavors), in file order."""
    known_set = set(known)
    return [flavor for flavor in images.flavors if flavor not in known_set]


def load_published_images(path: Path) -> PublishedImages:
    """Read and check a `--published-images` file (I/O at the edge); every refusal is a `SpecError`, exit code 2."""
    shown = str(path)
    try:
        is_dir = stat.S_ISDIR(path.stat().st_mode)
    except FileNotFoundError as e:
        raise SpecError("file not found", file=shown, hint="check the --published-images path") from e
    except OSError:
        is_dir = False  # the bounded read below reports it
    if is_dir:
        raise SpecError("is a directory, not a published-images file", file=shown, hint=_TOP_HINT)
    return PublishedImages.from_document(load_document(path))


@functools.cache
def _schema() -> dict[str, Any]:
    text = resources.files("gardenlinux_ocm.spec").joinpath("schemas", SCHEMA).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _branches() -> list[tuple[Provider, frozenset[str]]]:
    """The oneOf alternatives in schema order: each provider and the keys its shape allows."""
    schema = _schema()
    out = []
    for alternative in schema["additionalProperties"]["oneOf"]:
        name = str(alternative["$ref"]).rsplit("/", 1)[1]
        out.append((Provider(name), frozenset(schema["$defs"][name]["properties"])))
    return out


def _platform_of(flavor: str) -> str:
    return parse_cname(flavor.rsplit("-", 1)[0])[0]


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _schema_problems(doc: SpecDocument) -> list[Problem]:
    validator = jsonschema.Draft202012Validator(_schema())
    errors = list(itertools.islice(validator.iter_errors(doc.data), _MAX_COLLECTED))
    problems = [p for e in errors for p in _explain(doc, e)]
    return sorted(
        problems, key=lambda p: (doc.line(p.path) or 0, [f"{x:09}" if isinstance(x, int) else x for x in p.path])
    )


def _explain(doc: SpecDocument, error: jsonschema.ValidationError) -> list[Problem]:
    """The problems behind one schema error, in words; a failed oneOf is explained by the shape that was meant."""
    if error.validator == "oneOf":
        return _explain_output(doc, error)
    path = tuple(error.absolute_path)
    is_key = "propertyNames" in error.relative_schema_path and isinstance(error.instance, str)
    if is_key:
        path = (*path, str(error.instance))
    v, inst, schema = error.validator, cast(Any, error.instance), error.schema
    if v == "pattern" and isinstance(inst, str) and error.validator_value in PATTERN_FORMS:
        arch_wrong = is_key and inst.rsplit("-", 1)[-1] not in ("amd64", "arm64")
        form = PATTERN_FORMS[str(error.validator_value)]
        return [Problem(path=path, message=f"{_shown(inst)} is not {form}", hint=_ARCH_HINT if arch_wrong else None)]
    if v == "minItems" and inst == [] and isinstance(schema, dict):
        return [Problem(path=path, message="is an empty list", hint=f"list {schema.get('description', 'the values')}")]
    if v == "minLength" and inst == "" and isinstance(schema, dict):
        return [Problem(path=path, message="is an empty string", hint=f"write {schema.get('description', 'a value')}")]
    if v == "minProperties" and inst == {}:
        return [Problem(path=path, message="is an empty mapping: it names no flavor", hint=_TOP_HINT)]
    problem = describe(doc, error)
    if path == ():
        return [dataclasses.replace(problem, hint=_TOP_HINT)]
    if v == "required" and isinstance(schema, dict):
        key = problem.message.split("'")[1] if "'" in problem.message else ""
        described = schema.get("properties", {}).get(key, {}).get("description")
        if described:
            return [dataclasses.replace(problem, hint=f"{key} is {described}")]
    return [problem]


def _explain_output(doc: SpecDocument, error: jsonschema.ValidationError) -> list[Problem]:
    """A flavor's value matches no shape: report against the shape its keys name, else its platform's shape."""
    path = tuple(error.absolute_path)
    flavor, value = str(path[-1]), cast(Any, error.instance)
    branches = _branches()
    expected = PLATFORM_PROVIDERS.get(_platform_of(flavor))
    chosen = next((i for i, (p, _) in enumerate(branches) if p == expected), None)
    if isinstance(value, dict):
        overlap = [len(set(value) & keys) for _, keys in branches]
        best = max(overlap)
        if best > 0 and (chosen is None or overlap[chosen] < best):
            chosen = overlap.index(best)
    hint = f"give the output of one provider: {_SHAPES}"
    if chosen is None and not isinstance(value, dict):
        chosen = 0  # every shape is a mapping, so any one reports the type
    if chosen is not None:
        problems = [p for e in error.context or () if e.relative_schema_path[0] == chosen for p in _explain(doc, e)]
        return problems if isinstance(value, dict) else [dataclasses.replace(p, hint=hint) for p in problems]
    if not value:
        return [Problem(path=path, message="is empty", hint=hint)]
    key = str(next(iter(value)))
    allowed = sorted(k for keys in _KEYS.values() for k in keys)
    return [
        Problem(
            path=(*path, key),
            message=f"unknown key '{key}'; expected the publishing output of one provider{did_you_mean(key, allowed)}",
            hint=hint,
        )
    ]


def _platform_problem(image: PublishedImage) -> Problem | None:
    platform = _platform_of(image.flavor)
    expected = PLATFORM_PROVIDERS.get(platform)
    if expected == image.provider:
        return None
    carries = f"carries the publishing output of {_shape_text(image.provider)}"
    if expected is None:
        return Problem(
            path=(image.flavor,),
            message=f"flavor '{image.flavor}' is on platform '{platform}', which glci does not publish to, "
            f"but {carries}",
            hint=f"only flavors of the platforms {', '.join(PLATFORM_PROVIDERS)} have published images",
        )
    return Problem(
        path=(image.flavor,),
        message=f"flavor '{image.flavor}' is on platform '{platform}', which glci publishes to {expected}, "
        f"but {carries}",
        hint=f"give it the output of {_shape_text(expected)}, or move this output to a {image.provider} flavor",
    )


def _line(doc: SpecDocument, problem: Problem) -> str:
    hint = f" ({problem.hint})" if problem.hint else ""
    return f"\n  {doc.file}:{doc.line(problem.path) or '?'}: {path_text(problem.path)}: {problem.message}{hint}"


def _error(doc: SpecDocument, problems: list[Problem]) -> SpecError:
    """One paragraph for all problems, as `spec.parse.validate_document` writes it: the first, then one line each."""
    first, rest = problems[0], problems[1:_MAX_SHOWN]
    left = len(problems) - _MAX_SHOWN
    more = f"\n  ... and {left} more" if left > 0 else ""
    return SpecError(
        first.message + "".join(_line(doc, p) for p in rest) + more,
        file=doc.file,
        path=path_text(first.path),
        line=doc.line(first.path),
        hint=first.hint or _SCHEMA_HINT,
    )

"""Mapping -> ReleaseSpec (pure): JSON-Schema validation with key-path messages, then the cross-file checks."""

from __future__ import annotations

import functools
import itertools
import json
import re
from importlib import resources
from typing import Any

import jsonschema

from ..errors import SpecError
from .load import SpecDocument, path_text
from .messages import FORMAT_CHECKER, Problem, describe, did_you_mean
from .model import (
    Attach,
    ComponentNames,
    Container,
    ExternalReference,
    Flavor,
    Platform,
    ReleaseSpec,
    Role,
    parse_cname,
    repository_name,
)
from .version import diagnose_version

__all__ = ["validate_document", "parse_release", "COMPONENT_SCHEMA", "RELEASE_SCHEMA"]

COMPONENT_SCHEMA = "component-spec.schema.json"
RELEASE_SCHEMA = "release-spec.schema.json"
_MAX_SHOWN = 10  # problems listed in one error
_MAX_COLLECTED = 1000  # schema errors collected at most (a hostile file can produce one per value)


@functools.cache
def _schema(name: str) -> dict[str, Any]:
    text = resources.files("gardenlinux_ocm.spec").joinpath("schemas", name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _problems(doc: SpecDocument, schema_name: str) -> list[Problem]:
    validator = jsonschema.Draft202012Validator(_schema(schema_name), format_checker=FORMAT_CHECKER)
    errors = list(itertools.islice(validator.iter_errors(doc.data), _MAX_COLLECTED))
    errors.sort(key=lambda e: [str(p) for p in e.absolute_path])
    problems = [describe(doc, e) for e in errors]
    patterned = {p.path for p, e in zip(problems, errors, strict=True) if e.validator == "pattern"}
    return [
        p for p, e in zip(problems, errors, strict=True) if not (e.validator == "maxLength" and p.path in patterned)
    ]


def _line(doc: SpecDocument, problem: Problem) -> str:
    hint = f" ({problem.hint})" if problem.hint else ""
    return f"\n  {doc.file}:{doc.line(problem.path) or '?'}: {path_text(problem.path)}: {problem.message}{hint}"


def validate_document(doc: SpecDocument, schema_name: str) -> None:
    """Validate against the named schema; raises one `SpecError` listing every problem with file, path and line."""
    problems = _problems(doc, schema_name)
    if not problems:
        return
    first, rest = problems[0], problems[1:_MAX_SHOWN]
    left = len(problems) - _MAX_SHOWN
    at_least = "at least " if len(problems) >= _MAX_COLLECTED else ""
    more = f"\n  ... and {at_least}{left} more" if left > 0 else ""
    raise SpecError(
        first.message + "".join(_line(doc, p) for p in rest) + more,
        file=doc.file,
        path=path_text(first.path),
        line=doc.line(first.path),
        hint=first.hint or f"the schema is schemas/{schema_name}",
    )


def _fail(doc: SpecDocument, path: tuple[str | int, ...], message: str, hint: str | None = None) -> SpecError:
    return SpecError(message, file=doc.file, path=path_text(path), line=doc.line(path), hint=hint)


_FLAVOR_IDENTITY = ("name", "platform", "architecture", "feature-flags", "platform_variant")  # ocm.render's keys
_PLACEHOLDERS = ("arch", "version", "commit8")


def _roles(component: SpecDocument, spec: dict[str, Any]) -> tuple[Role, ...]:
    """The roles in spec order; a suffix or a pattern used twice, or a pattern's identity key that a flavor's
    resources already carry, is refused."""
    roles = []
    forms: dict[str, str] = {}
    for name, v in spec.items():
        role = Role(name=name, suffix=v.get("suffix"), pattern=v.get("pattern"), identity=v.get("identity"),
                    media_type=v["mediaType"], resource_type=v["resourceType"],
                    attach=Attach(v.get("attach", "layer")), artifact_type=v.get("artifactType"))
        key = "suffix" if role.suffix is not None else "pattern"
        if role.file_form in forms:
            raise _fail(component, ("roles", name, key),
                        f"{key} '{role.file_form}' is already used by role '{forms[role.file_form]}'")
        forms[role.file_form] = name
        if role.identity in _FLAVOR_IDENTITY:
            raise _fail(component, ("roles", name, "identity"),
                        f"'{role.identity}' is already a key of every flavor resource's identity",
                        hint="name what the pattern's * stands for, e.g. artefact or stage")
        if role.pattern is None and "{*}" in role.media_type:
            raise _fail(component, ("roles", name, "mediaType"), "{*} stands for what a pattern matched, but "
                        "this role has a fixed suffix", hint="write the media type in full, or use 'pattern'")
        if role.artifact_type is not None and role.attach is not Attach.REFERRER:
            raise _fail(component, ("roles", name, "artifactType"), "only a referrer has an artifactType of its "
                        "own; a layer's type is its mediaType", hint="add 'attach: referrer', or drop artifactType")
        if role.pattern is None and "{*}" in (role.artifact_type or ""):
            raise _fail(component, ("roles", name, "artifactType"), "{*} stands for what a pattern matched, but "
                        "this role has a fixed suffix", hint="write the artifact type in full, or use 'pattern'")
        roles.append(role)
    return tuple(roles)


def _container_repository(release_repository: str, kind: dict[str, Any]) -> str:
    if kind.get("releaseIndex"):
        return release_repository
    return f"{release_repository}/{kind.get('repository') or repository_name(kind['cname'])}"


def _archive_path(form: str | None, arch: str, version: str, commit8: str) -> str | None:
    if form is None:
        return None
    for name in _PLACEHOLDERS:
        form = form.replace("{" + name + "}", {"arch": arch, "version": version, "commit8": commit8}[name])
    return form


def _check_containers(component: SpecDocument, kinds: dict[str, Any], release_repository: str) -> None:
    """At most one container in the release index; one repository per container; archive paths that name the
    architecture and only known placeholders."""
    in_index = [name for name, k in kinds.items() if k.get("releaseIndex")]
    if len(in_index) > 1:
        raise _fail(component, ("containers", in_index[1], "releaseIndex"),
                    f"only one container can be in the release index; '{in_index[0]}' already is",
                    hint="podman pull of the release tag gets exactly one image; give the others their repository")
    used: dict[str, str] = {}
    for name, kind in kinds.items():
        repo = _container_repository(release_repository, kind)
        if repo in used:
            raise _fail(component, ("containers", name, "repository" if "repository" in kind else "cname"),
                        f"repository {repo} is already the repository of container '{used[repo]}'")
        used[repo] = name
        form = kind.get("archive")
        if form is None:
            continue
        unknown = sorted(set(re.findall(r"{([^}]*)}", form)) - set(_PLACEHOLDERS))
        if unknown or "{arch}" not in form:
            what = f"unknown placeholder {{{unknown[0]}}}" if unknown else "does not name {arch}"
            raise _fail(component, ("containers", name, "archive"), f"'{form}' {what}",
                        hint="write the path with {arch}, and optionally {version} and {commit8}")


def parse_release(component: SpecDocument, release: SpecDocument, expected_version: str | None = None) -> ReleaseSpec:
    """Validate both documents and join them into a `ReleaseSpec`; cross-file errors name the release file."""
    validate_document(component, COMPONENT_SCHEMA)
    validate_document(release, RELEASE_SCHEMA)
    c: dict[str, Any] = component.data
    r: dict[str, Any] = release.data

    version = str(r["version"])
    problem = diagnose_version(version)
    if problem is not None:
        raise _fail(release, ("version",), f"{version!r} {problem.message}", hint=problem.hint)
    if expected_version is not None and version != expected_version:
        raise _fail(
            release,
            ("version",),
            f"says version {version!r}, but the file is for {expected_version!r}",
            hint=f"rename the file to {version}.yaml or fix 'version'",
        )

    roles = _roles(component, c["roles"])
    role_names = [r_.name for r_ in roles]
    for i, name in enumerate(c["requiredRoles"]):
        if name not in role_names:
            raise _fail(component, ("requiredRoles", i), f"unknown role '{name}'{did_you_mean(name, role_names)}")
    patterned = {r_.name for r_ in roles if r_.pattern is not None}
    for where in [("requiredRoles", i) for i in range(len(c["requiredRoles"]))] + [
        ("platforms", p, "images", i) for p, v in c["platforms"].items() for i in range(len(v["images"]))
    ]:
        node: Any = c
        for key in where:
            node = node[key]
        if node in patterned:
            raise _fail(component, where, f"role '{node}' is given by a pattern, so it cannot be required",
                        hint="required roles and platform images have one file each: give the role a suffix")
    platforms = tuple(Platform(name=n, images=tuple(v["images"])) for n, v in c["platforms"].items())
    for p in platforms:
        for i, image in enumerate(p.images):
            if image not in role_names:
                raise _fail(
                    component,
                    ("platforms", p.name, "images", i),
                    f"unknown role '{image}'{did_you_mean(image, role_names)}",
                )
            if roles[role_names.index(image)].attach is Attach.REFERRER:
                raise _fail(component, ("platforms", p.name, "images", i),
                            f"role '{image}' is attached as a referrer, but a platform image must be a layer of the "
                            "flavor manifest, where glci and the CloudProfile tooling look for it",
                            hint=f"drop 'attach: referrer' from role '{image}'")
    platform_names = [p.name for p in platforms]
    archs = tuple(c["architectures"])

    flavors: list[Flavor] = []
    seen: set[str] = set()
    for i, f in enumerate(r["flavors"]):
        platform, flags = parse_cname(f["cname"])
        if platform not in platform_names:
            raise _fail(
                release,
                ("flavors", i, "cname"),
                f"cname '{f['cname']}' starts with unknown platform '{platform}'; "
                f"known platforms: {', '.join(platform_names)}{did_you_mean(platform, platform_names)}",
            )
        for j, extra_role in enumerate(f.get("extraRoles", [])):
            if extra_role in patterned:
                raise _fail(release, ("flavors", i, "extraRoles", j), f"role '{extra_role}' is given by a pattern; "
                            "its files are published whenever they are there, without being listed")
            if extra_role not in role_names:
                raise _fail(
                    release,
                    ("flavors", i, "extraRoles", j),
                    f"unknown role '{extra_role}'{did_you_mean(extra_role, role_names)}",
                )
        for arch in f["architectures"]:
            if arch not in archs:
                raise _fail(
                    release,
                    ("flavors", i, "architectures"),
                    f"architecture '{arch}' is not one of the spec's architectures: {', '.join(archs)}",
                )
            flavor = Flavor(
                cname=f["cname"],
                arch=arch,
                platform=platform,
                feature_flags=flags,
                features=tuple(f.get("features", ())),
                extra_roles=tuple(f.get("extraRoles", ())),
                platform_variant=f.get("platformVariant"),
            )
            if flavor.name in seen:
                raise _fail(release, ("flavors", i, "cname"), f"flavor '{flavor.name}' is listed twice")
            seen.add(flavor.name)
            flavors.append(flavor)

    container_kinds: dict[str, Any] = c["containers"]
    _check_containers(component, container_kinds, c["repositories"]["release"])
    containers: list[Container] = []
    for i, ct in enumerate(r.get("containers", [])):
        kind = container_kinds.get(ct["name"])
        if kind is None:
            known = sorted(container_kinds)
            raise _fail(
                release,
                ("containers", i, "name"),
                f"unknown container '{ct['name']}'; known: {', '.join(known)}{did_you_mean(ct['name'], known)}",
            )
        for arch in ct["architectures"]:
            container = Container(
                name=ct["name"],
                cname=kind["cname"],
                arch=arch,
                repository=_container_repository(c["repositories"]["release"], kind),
                in_release_index=bool(kind.get("releaseIndex", False)),
                description=kind.get("description", ""),
                archive=_archive_path(kind.get("archive"), arch, version, r["commit"][:8]),
            )
            if container.name_arch in seen:
                raise _fail(release, ("containers", i), f"'{container.name_arch}' is listed twice")
            seen.add(container.name_arch)
            containers.append(container)

    shared_refs: dict[str, Any] = c.get("externalReferences", {})
    overrides: dict[str, str] = r.get("externalReferences", {})
    for name in overrides:
        if name not in shared_refs:
            raise _fail(
                release,
                ("externalReferences", name),
                f"unknown external reference '{name}'{did_you_mean(name, sorted(shared_refs))}",
            )
    refs = []
    for name, v in shared_refs.items():
        value = overrides.get(name, v.get("url") or v.get("imageReference") or "").replace("{version}", version)
        refs.append(
            ExternalReference(
                name=name,
                type=v["type"],
                url=value if "url" in v else None,
                image_reference=value if "imageReference" in v else None,
            )
        )

    comps = c["components"]
    return ReleaseSpec(
        version=version,
        commit=r["commit"],
        release_date=r["releaseDate"],
        provider=c["provider"],
        source_name=c["source"]["name"],
        source_url=c["source"]["repoUrl"],
        components=ComponentNames(
            release=comps["release"], container_images=comps["containerImages"]
        ),
        release_repository=c["repositories"]["release"],
        flavor_artifact_type=c["flavorArtifactType"],
        roles=roles,
        required_roles=tuple(c["requiredRoles"]),
        platforms=platforms,
        flavors=tuple(flavors),
        containers=tuple(containers),
        external_references=tuple(refs),
    )

"""The release commands: `lint`, `sample-artefacts`, `render`, `publish`, `assemble` and `copy`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UsageError
from ..oci.copy.changes import OnChange
from ..ocm.access import AccessMode
from ..ocm.algorithms import ALGORITHM_HELP, DEFAULT_SIGNATURE_NAME, PSS_WARNING, SignatureAlgorithm
from ..targets import DEFAULT_TARGET
from .common import (
    RegistryFactory,
    closing_target,
    digest_cache,
    err,
    guard,
    make_signer,
    opened_targets,
    out,
    registry_unset,
    scratch_directory,
    with_registry_options,
)
from .images import PublishedImagesOpt
from .options import (
    AccessOpt,
    ArtefactsOpt,
    ComponentsOpt,
    DigestCacheOpt,
    JobsOpt,
    OcmRepositoryOpt,
    OnChangeOpt,
    OutputFormat,
    OutputOpt,
    ReferenceBaseOpt,
    RenderFormat,
    SignerCommandOpt,
    SignerOutput,
    SignerOutputOpt,
    SignerPublicKeyOpt,
    SignerTimeoutOpt,
    VersionArg,
    version_option,
)
from .output import copy_summary, progress, publish_summary

if TYPE_CHECKING:
    from .. import api
    from ..oci.copy import CopyStats
    from ..plan.model import ReleasePlan

__all__ = ["register"]


def _default_artefacts(version: str) -> Path:
    return Path("build") / "artefacts" / version


def register(app: typer.Typer) -> None:
    """Add the release commands to the app."""

    @app.command()
    def lint(components: ComponentsOpt = Path("components")) -> None:
        """Validate every spec against its JSON Schema and the others.

        Checks components/gardenlinux.yaml and every components/releases/VERSION.yaml; exit code 2 on errors.

        \b
        Example:
          gl-ocm lint --components components
        """
        from .. import api

        versions = guard(lambda: api.lint(components))
        out.print(f"ok: {components}/gardenlinux.yaml and {len(versions)} release(s): {', '.join(versions)}")

    @app.command("sample-artefacts")
    def sample_artefacts(
        version: VersionArg,
        output_dir: Annotated[
            Path, typer.Option("--output-dir", "-o", metavar="DIR", help="Directory to write the files into.")
        ],
        components: ComponentsOpt = Path("components"),
    ) -> None:
        """Write small sample build outputs for a release.

        One deterministic file per role of every flavor, and an OCI archive per container.

        \b
        Example:
          gl-ocm sample-artefacts 1473.0 -o build/artefacts/1473.0
        """
        from .. import api

        files = guard(lambda: api.sample_artefacts(components, version, output_dir))
        out.print(f"wrote {len(files)} files to {output_dir}")

    @app.command()
    def render(
        version: VersionArg,
        artefacts: ArtefactsOpt = None,
        fmt: Annotated[RenderFormat, typer.Option("--format", "-f", help="yaml or json.")] = RenderFormat.YAML,
        output_file: Annotated[
            Path | None, typer.Option("--output-file", "-o", metavar="FILE", help="Write here instead of stdout.")
        ] = None,
        components: ComponentsOpt = Path("components"),
        to: Annotated[
            str,
            typer.Option(
                "--to", "-t", metavar="TARGET", help="Where the artefacts would be published: sets the reference base."
            ),
        ] = DEFAULT_TARGET,
        reference_base: ReferenceBaseOpt = None,
        access: AccessOpt = None,
    ) -> None:
        """Render the OCM component descriptors of a release.

        The same spec, artefacts and addressing give byte-identical output: what publish writes for that --to.

        \b
        Example:
          gl-ocm render 1473.0 --format json -o descriptors.json
        """
        from .. import api
        from ..targets import addressing_for

        def run() -> ReleasePlan:
            addressing = addressing_for(to, reference_base, access)
            plan = api.plan_release(components, version, artefacts or _default_artefacts(version), addressing)[1]
            if addressing.mode is AccessMode.TRANSPORT:
                with scratch_directory(to, True) as workdir:  # the descriptors name the sets' digests: write them
                    plan = api.for_transport(plan, addressing, workdir)
            return plan

        plan = guard(run)
        if fmt is RenderFormat.JSON:
            text = json.dumps([c.descriptor for c in plan.components], indent=2, sort_keys=True) + "\n"
            data = text.encode()
        else:
            data = b"---\n".join(c.descriptor_yaml for c in plan.components)
        if output_file:
            guard(lambda: output_file.write_bytes(data))
            err.print(f"wrote {len(plan.components)} component descriptors to {output_file}")
        else:
            sys.stdout.buffer.write(data)

    @app.command()
    @with_registry_options
    def publish(
        version: VersionArg,
        to: Annotated[
            str,
            typer.Option(
                "--to",
                "-t",
                metavar="TARGET",
                help="oci-layout:DIR, ctf:PATH (a directory, .tar or .tgz) or a registry base HOST[:PORT][/PREFIX].",
                envvar="GL_OCM_TARGET",
            ),
        ] = DEFAULT_TARGET,
        ocm_repository: OcmRepositoryOpt = None,
        reference_base: ReferenceBaseOpt = None,
        access: AccessOpt = None,
        published_images: PublishedImagesOpt = None,
        flavor: Annotated[
            list[str] | None,
            typer.Option(
                "--flavor",
                metavar="CNAME-ARCH",
                help="Publish only this flavor's manifest, files and tag (repeatable): a CI job per flavor; then "
                "gl-ocm assemble. Other flavors' files may be absent.",
                show_default=False,
            ),
        ] = None,
        containers: Annotated[
            bool,
            typer.Option("--containers", help="Publish only the container images and their component version."),
        ] = False,
        artefacts: ArtefactsOpt = None,
        components: ComponentsOpt = Path("components"),
        jobs: JobsOpt = 4,
        output: OutputOpt = OutputFormat.TABLE,
        on_change: OnChangeOpt = OnChange.FAIL,
        sign_key: Annotated[
            Path | None,
            typer.Option(
                "--sign-key",
                exists=True,
                dir_okay=False,
                envvar="GL_OCM_SIGN_KEY",
                help="Sign the component versions (OCM) and every flavor manifest, container image and index "
                "(cosign's format, tags sha256-<hex>.sig) with this PEM RSA private key.",
            ),
        ] = None,
        sign_algorithm: Annotated[
            SignatureAlgorithm,
            typer.Option("--sign-algorithm", help=ALGORITHM_HELP),
        ] = SignatureAlgorithm.RSASSA_PKCS1_V1_5,
        signature_name: Annotated[
            str, typer.Option("--signature-name", "-s", metavar="NAME", help="Name of the signature.")
        ] = DEFAULT_SIGNATURE_NAME,
        key_password_file: Annotated[
            Path | None,
            typer.Option(
                "--key-password-file",
                exists=True,
                dir_okay=False,
                envvar="GL_OCM_KEY_PASSWORD_FILE",
                help="File holding the password of an encrypted --sign-key.",
            ),
        ] = None,
        signer_command: SignerCommandOpt = None,
        signer_output: SignerOutputOpt = SignerOutput.RAW,
        signer_public_key: SignerPublicKeyOpt = None,
        signer_timeout: SignerTimeoutOpt = 60.0,
        use_digest_cache: DigestCacheOpt = True,
        registry: RegistryFactory = registry_unset,
    ) -> None:
        """Publish a release to a layout directory or a registry.

        Writes the flavor manifests, container images, the release index and the OCM component versions (to
        --ocm-repository when given). Everything is validated before the first byte is written; a second run of the
        same release writes nothing.

        \b
        Examples:
          gl-ocm publish 1473.0
          gl-ocm publish 1473.0 --to 127.0.0.1:5000 --artefacts build/artefacts/1473.0
          gl-ocm publish 1473.0 --to ghcr.io/gardenlinux \\
            --ocm-repository europe-docker.pkg.dev/gardener-project/releases
        """

        from .. import api
        from ..targets import addressing_for, parse_target

        def run() -> api.PublishResult:
            parse_target(to)  # a malformed target fails at once, before the artefacts are hashed
            if ocm_repository is not None:
                parse_target(ocm_repository)
            addressing = addressing_for(to, reference_base, access)
            images = None
            if published_images is not None:  # a bad file fails before the artefacts are hashed
                from ..gardener.published_images import load_published_images

                images = load_published_images(published_images)
            # so does an unusable key or signer
            key = make_signer(sign_key, key_password_file, signer_command, signer_output, signer_public_key,
                              key_option="--sign-key", timeout=signer_timeout)
            source = artefacts or _default_artefacts(version)
            cache = digest_cache(use_digest_cache)
            if flavor or containers:
                if images is not None or key is not None:
                    raise UsageError("--published-images and signing go with the whole release or with assemble",
                                     hint="publish the flavors, run gl-ocm assemble, then attach-images and sign")
                selection = api.Selection(flavors=frozenset(flavor or ()), containers=containers)
                _, plan = api.plan_parts(components, version, source, selection, addressing, digest_cache=cache)
            else:
                _, plan = api.plan_release(components, version, source, addressing, published_images=images,
                                           digest_cache=cache)
            opts = registry()
            with (
                scratch_directory(to, addressing.mode is AccessMode.TRANSPORT) as workdir,
                opened_targets(to, ocm_repository, opts) as (target, ocm_target),
                progress(output is OutputFormat.TABLE, "publishing") as on_event,
            ):
                plan = api.for_transport(plan, addressing, workdir)
                if key is not None:
                    from ..trust.sign import sign_plan

                    if sign_algorithm is SignatureAlgorithm.RSASSA_PSS:
                        err.print(PSS_WARNING, highlight=False)
                    plan = sign_plan(plan, key, algorithm=sign_algorithm, name=signature_name)
                return api.publish(
                    plan, target, jobs=jobs, on_event=on_event, on_change=on_change, ocm_repository=ocm_target,
                    image_signer=key, reference_base=addressing.base,
                )

        result = guard(run)
        signed = (result.images_signed, result.images_already_signed) if sign_key or signer_command else None
        publish_summary(result.plan, result.stats, result.target, output, result.ocm_repository, signed,
                        result.fallback_tags)

    @app.command()
    @with_registry_options
    def assemble(
        version: VersionArg,
        to: Annotated[
            str,
            typer.Option("--to", "-t", metavar="TARGET", help="Where the flavor jobs published.",
                         envvar="GL_OCM_TARGET"),
        ] = DEFAULT_TARGET,
        ocm_repository: OcmRepositoryOpt = None,
        reference_base: ReferenceBaseOpt = None,
        access: AccessOpt = None,
        components: ComponentsOpt = Path("components"),
        jobs: JobsOpt = 4,
        output: OutputOpt = OutputFormat.TABLE,
        on_change: OnChangeOpt = OnChange.FAIL,
        registry: RegistryFactory = registry_unset,
    ) -> None:
        """Build the release index and component from what the flavor jobs published.

        Needs no artefacts: reads every flavor's and container's manifest from TARGET. Exit 1, listing them and
        writing nothing, when some are not published yet. The digests equal a one-shot publish.

        \b
        Example:
          gl-ocm publish 1473.0 --to 127.0.0.1:5000 --flavor aws-gardener_prod-amd64
          gl-ocm publish 1473.0 --to 127.0.0.1:5000 --containers
          gl-ocm assemble 1473.0 --to 127.0.0.1:5000
        """
        from .. import api
        from ..targets import addressing_for, parse_target

        def run() -> api.PublishResult:
            parse_target(to)
            addressing = addressing_for(to, reference_base, access)
            opts = registry()
            with (
                scratch_directory(to, addressing.mode is AccessMode.TRANSPORT) as workdir,
                opened_targets(to, ocm_repository, opts) as (target, ocm_target),
                progress(output is OutputFormat.TABLE, "assembling") as on_event,
            ):
                return api.assemble(components, version, target, addressing=addressing,
                                    ocm_repository=ocm_target, jobs=jobs, on_event=on_event, on_change=on_change,
                                    workdir=workdir)

        result = guard(run)
        publish_summary(result.plan, result.stats, result.target, output, result.ocm_repository,
                        fallback=result.fallback_tags)

    @app.command("copy")
    @with_registry_options
    def copy_cmd(
        source: Annotated[
            str, typer.Argument(metavar="SOURCE", help="oci-layout:DIR, ctf:PATH, ca:PATH or a registry base.")
        ],
        target: Annotated[
            str, typer.Argument(metavar="TARGET", help="oci-layout:DIR, ctf:PATH or a registry base.")
        ],
        version: Annotated[
            str | None, typer.Option("--version", metavar="VERSION", help="Copy only this release.",
                                     callback=version_option)
        ] = None,
        jobs: JobsOpt = 4,
        output: OutputOpt = OutputFormat.TABLE,
        on_change: OnChangeOpt = OnChange.FAIL,
        reference_base: ReferenceBaseOpt = None,
        registry: RegistryFactory = registry_unset,
    ) -> None:
        """Copy releases between two targets.

        Copies every repository, tag and component version (only those of --version when given). OCI artefacts
        keep their digests; accesses that name the source are re-pointed to the target (signatures stay valid).
        Referrers and cosign-format signatures go along; one that SOURCE lacks (a release that ocm transfer
        copied) is named in a warning.

        \b
        Examples:
          gl-ocm copy oci-layout:build/oci 127.0.0.1:5000/mirror --version 1473.0
          gl-ocm copy ctf:gardenlinux-1473.0.tgz registry.example.com/gardenlinux
        """

        from .. import api
        from ..targets import addressing_for, open_source, open_target

        def run() -> CopyStats:
            opts = registry()
            rebase = (addressing_for(source).base, addressing_for(target, reference_base).base)
            with (
                closing_target(open_source(source, opts)) as src,
                closing_target(open_target(target, opts)) as dst,
                progress(output is OutputFormat.TABLE, "copying") as on_event,
            ):
                return api.copy_release(
                    src, dst, version=version, jobs=jobs, on_event=on_event, on_change=on_change, rebase=rebase,
                    on_warning=lambda text: err.print(f"warning: {text}", highlight=False, markup=False),
                )

        stats = guard(run)
        copy_summary(source, target, stats, output)

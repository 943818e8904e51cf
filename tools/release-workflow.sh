#!/usr/bin/env bash
# The release workflow (.github/workflows/release.yml) on one machine: sample artefacts (the placeholder build), eight
# concurrent `publish --flavor` jobs and a containers job, assemble, sign with a key it generates, verify with the
# public key. The alias tags and the download job of the workflow are left out.
#
#   tools/release-workflow.sh VERSION TARGET [OCM_REPOSITORY]
#
# TARGET is a registry base HOST[:PORT][/PREFIX] (log in first where the registry needs it: README, "The CLI");
# OCM_REPOSITORY is where the component versions go (default: TARGET). gl-ocm must be on PATH (`make install`, then
# PATH=.venv/bin:$PATH). Environment: WORK_DIR (default: a new temporary directory) receives the artefacts, a log per
# job (logs/) and the key pair (key.pem, key.pub); JOBS (default 8) is the number of flavor jobs; PYTHON the Python
# that gl-ocm is installed in (default: the python3 beside gl-ocm, else python3); SIGN_WITH_COMMAND=1 signs through
# --signer-command (openssl standing in for a KMS), as the workflow does with GL_OCM_SIGNER_COMMAND.
#
# Each function below runs the script of the composite action it is named after (.github/actions/NAME/action.yml),
# line for line; tests/unit/test_workflow.py checks that they stay the same.
set -euo pipefail

usage() {
  echo "usage: $0 VERSION TARGET [OCM_REPOSITORY]" >&2
  exit 2
}
(($# >= 2 && $# <= 3)) || usage
version=$1 target=$2 ocm_repository=${3:-}
ocm_target=${ocm_repository:-$target}
component=github.com/gardenlinux/gardenlinux
root=$(cd "$(dirname "$0")/.." && pwd)
components=$root/components
jobs=${JOBS:-8}

gl_ocm=$(command -v gl-ocm) || {
  echo "error: gl-ocm is not on PATH: run make install, then PATH=$root/.venv/bin:\$PATH" >&2
  exit 2
}
python=${PYTHON:-$(dirname "$gl_ocm")/python3}
[ -x "$python" ] || python=python3
"$python" -c 'import gardenlinux_ocm' 2>/dev/null || {
  echo "error: $python cannot import gardenlinux_ocm: set PYTHON to the Python that gl-ocm is installed in" >&2
  exit 2
}
work=${WORK_DIR:-$(mktemp -d)}
mkdir -p "$work/logs"
echo "work directory: $work"

# -- the composite actions' scripts, one function each (the action's inputs are the arguments, in its order)

publish_flavor() { # .github/actions/publish-flavor: VERSION FLAVOR ARTEFACTS TARGET OCM_REPOSITORY COMPONENTS
  local VERSION=$1 FLAVOR=$2 ARTEFACTS=$3 TARGET=$4 OCM_REPOSITORY=$5 COMPONENTS=$6 flavors f args
  read -r -a flavors <<<"$FLAVOR"
  args=(publish "$VERSION" --to "$TARGET" --artefacts "$ARTEFACTS" --components "$COMPONENTS")
  for f in "${flavors[@]}"; do args+=(--flavor "$f"); done
  if [ -n "$OCM_REPOSITORY" ]; then args+=(--ocm-repository "$OCM_REPOSITORY"); fi
  gl-ocm "${args[@]}"
}

publish_containers() { # .github/actions/publish-containers: VERSION ARTEFACTS TARGET OCM_REPOSITORY COMPONENTS
  local VERSION=$1 ARTEFACTS=$2 TARGET=$3 OCM_REPOSITORY=$4 COMPONENTS=$5 args
  args=(publish "$VERSION" --to "$TARGET" --artefacts "$ARTEFACTS" --components "$COMPONENTS" --containers)
  if [ -n "$OCM_REPOSITORY" ]; then args+=(--ocm-repository "$OCM_REPOSITORY"); fi
  gl-ocm "${args[@]}"
}

assemble() { # .github/actions/assemble: VERSION TARGET OCM_REPOSITORY COMPONENTS
  local VERSION=$1 TARGET=$2 OCM_REPOSITORY=$3 COMPONENTS=$4 args
  args=(assemble "$VERSION" --to "$TARGET" --components "$COMPONENTS")
  if [ -n "$OCM_REPOSITORY" ]; then args+=(--ocm-repository "$OCM_REPOSITORY"); fi
  gl-ocm "${args[@]}"
}

verify() { # .github/actions/verify: TARGET VERSION COMPONENT PUBLIC_KEY DEEP
  local TARGET=$1 VERSION=$2 COMPONENT=$3 PUBLIC_KEY=$4 DEEP=$5 args
  args=(verify "$TARGET" "$COMPONENT:$VERSION")
  if [ -n "$PUBLIC_KEY" ]; then args+=(--public-key "$PUBLIC_KEY"); fi
  if [ "$DEEP" = true ]; then args+=(--deep); fi
  gl-ocm "${args[@]}"
}

# -- the workflow's jobs

# plan: lint the specs, list the flavors (CNAME-ARCH)
gl-ocm lint --components "$components"
listed=$(VERSION=$version COMPONENTS=$components "$python" - <<'EOF'
import os, pathlib
from gardenlinux_ocm.spec import load_release
for f in load_release(pathlib.Path(os.environ["COMPONENTS"]), os.environ["VERSION"]).flavors:
    print(f.name)
EOF
)
mapfile -t flavors <<<"$listed"

# build (placeholder): sample artefacts, each job's share of the files in a directory of its own
gl-ocm sample-artefacts "$version" -o "$work/samples" --components "$components"
shares=()
for i in "${!flavors[@]}"; do
  n=$((i % jobs))
  shares[n]="${shares[n]:-} ${flavors[i]}"
  mkdir -p "$work/artefacts/job-$n"
  mv "$work/samples/${flavors[i]}-$version-"* "$work/artefacts/job-$n/"
done
mkdir -p "$work/artefacts/containers"
mv "$work/samples/"* "$work/artefacts/containers/"  # what is left: the container images (bare_flavors/ too)

# publish + containers: all at once
pids=() names=()
for n in "${!shares[@]}"; do
  publish_flavor "$version" "${shares[n]# }" "$work/artefacts/job-$n" "$target" "$ocm_repository" "$components" \
    >"$work/logs/publish-$n.log" 2>&1 &
  pids+=("$!") names+=("publish-$n")
done
publish_containers "$version" "$work/artefacts/containers" "$target" "$ocm_repository" "$components" \
  >"$work/logs/containers.log" 2>&1 &
pids+=("$!") names+=(containers)
failed=()
for i in "${!pids[@]}"; do
  if wait "${pids[i]}"; then
    echo "${names[i]}: done"
  else
    status=$?
    failed+=("${names[i]}")
    echo "${names[i]}: failed (exit $status); its log, $work/logs/${names[i]}.log:" >&2
    sed 's/^/  /' "$work/logs/${names[i]}.log" >&2
  fi
done
if ((${#failed[@]})); then
  echo "error: ${#failed[@]} job(s) failed (${failed[*]}); nothing was assembled; run again once fixed" >&2
  exit 1
fi

# assemble
assemble "$version" "$target" "$ocm_repository" "$components"

# sign, with a key generated here
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/key.pem" 2>/dev/null)
openssl pkey -in "$work/key.pem" -pubout -out "$work/key.pub"
if [ "${SIGN_WITH_COMMAND:-}" = 1 ]; then  # the workflow's KMS path, with openssl standing in for the KMS
  gl-ocm sign "$ocm_target" "$component:$version" \
    --signer-command "openssl pkeyutl -sign -inkey $work/key.pem -pkeyopt digest:sha256" \
    --signer-public-key "$work/key.pub"
else
  gl-ocm sign "$ocm_target" "$component:$version" --private-key "$work/key.pem"
fi

# verify, with the public key
verify "$ocm_target" "$version" "$component" "$work/key.pub" true
echo "release $version: published to $target, assembled, signed and verified (key pair in $work)"

#!/usr/bin/env bash
# Build the pinned Go reference clients into .tools/bin (make tools), or print their versions (make tools-versions).
# Each tool has its own Go module, tools/<dir>/go.mod + go.sum, that pins it with a `tool` directive (docs/tools.md).
# A tool is rebuilt only when its binary is missing or its stamp (sha256 of go.mod, go.sum, build line and Go version)
# changed, so a second `make tools` does nothing.
#
#   tools/build-tools.sh [build] [NAME...]   build all tools, or only the named binaries
#   tools/build-tools.sh versions            run each binary's version command and check its pin
#
# Environment: TOOLS_DIR (default .tools; binaries in TOOLS_DIR/bin), GO_BUILD_P (go build -p, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# binary | module dir under tools/ | module | main package | version command | extra -ldflags ({version}: the pin)
tools=(
  "oras|oras|oras.land/oras|oras.land/oras/cmd/oras|version|"
  "distribution-registry|distribution|github.com/distribution/distribution/v3|github.com/distribution/distribution/v3/cmd/registry|--version|-X github.com/distribution/distribution/v3/version.version={version}"
  "cosign|cosign|github.com/sigstore/cosign/v2|github.com/sigstore/cosign/v2/cmd/cosign|version|"
  "olareg|olareg|github.com/olareg/olareg|github.com/olareg/olareg/cmd/olareg|version|-X github.com/olareg/olareg/internal/version.vcsTag={version}"
  "actionlint|actionlint|github.com/rhysd/actionlint|github.com/rhysd/actionlint/cmd/actionlint|-version|-X github.com/rhysd/actionlint.version={version}"
)

tools_dir=${TOOLS_DIR:-.tools}
case $tools_dir in /*) ;; *) tools_dir=$root/$tools_dir ;; esac
bin=$tools_dir/bin
stamps=$tools_dir/stamps
jobs=${GO_BUILD_P:-2}

# pin MODDIR MODULE: the version go.mod requires.
pin() { awk -v m="$2" '$1 == m { print $2; exit }' "tools/$1/go.mod"; }

build() {
  local want=("$@") line name dir module pkg cmd extra version ldflags key start built=0
  command -v go >/dev/null || { echo "error: go not found; the tools need Go >= 1.26 on PATH" >&2; exit 2; }
  mkdir -p "$bin" "$stamps"
  for line in "${tools[@]}"; do
    IFS='|' read -r name dir module pkg cmd extra <<<"$line"
    if ((${#want[@]})) && [[ " ${want[*]} " != *" $name "* ]]; then continue; fi
    version=$(pin "$dir" "$module")
    ldflags="-s -w ${extra//\{version\}/$version}"
    key=$(cat "tools/$dir/go.mod" "tools/$dir/go.sum" <(echo "$pkg $ldflags $(cd "tools/$dir" && go env GOVERSION)") | sha256sum | cut -c1-64)
    if [ -x "$bin/$name" ] && [ "$(cat "$stamps/$name" 2>/dev/null)" = "$key" ]; then continue; fi
    echo "building $name ($module $version)"
    start=$SECONDS
    rm -f "$stamps/$name"
    (cd "tools/$dir" && CGO_ENABLED=0 go build -p "$jobs" -mod=readonly -trimpath -ldflags "$ldflags" \
      -o "$bin/$name" "$pkg")
    echo "$key" >"$stamps/$name"
    echo "built ${bin#"$root"/}/$name in $((SECONDS - start)) s"
    built=$((built + 1))
  done
  ((built)) || echo "tools in ${bin#"$root"/}/ are up to date"
}

versions() {
  local line name dir module pkg cmd extra version built out status=0
  for line in "${tools[@]}"; do
    IFS='|' read -r name dir module pkg cmd extra <<<"$line"
    version=$(pin "$dir" "$module")
    if [ ! -x "$bin/$name" ]; then echo "$name: missing; run make tools" >&2; status=1; continue; fi
    built=$(go version -m "$bin/$name" | awk -v m="$module" '$1 == "mod" && $2 == m { print $3 }')
    printf '%-22s %s %s, built %s, `%s %s` says ' "$name" "$module" "$version" "${built:-?}" "$name" "$cmd"
    if [ "$built" != "$version" ]; then echo "(not run): MISMATCH, run make tools"; status=1; continue; fi
    # shellcheck disable=SC2086  # cmd is one word
    out=$("$bin/$name" $cmd 2>&1) || { echo "nothing: it failed: $out"; status=1; continue; }
    grep -m1 -oE 'v?[0-9]+\.[0-9]+\.[0-9]+[^[:space:]]*' <<<"$out" || { echo "no version"; status=1; }
  done
  return $status
}

case ${1:-build} in
  build) shift $(($# > 0)); build "$@" ;;
  versions) versions ;;
  *) build "$@" ;;
esac

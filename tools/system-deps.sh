#!/usr/bin/env bash
# Install the Debian tools the integration tests run, when they are missing (make test calls this).
# Required: docker-registry (distribution 2.8), skopeo, umoci, htpasswd. Optional: podman (its test skips without it).
# As root (or with password-less sudo) it installs them with apt-get; otherwise it prints the command and exits 2.
set -euo pipefail

declare -A package=([docker-registry]=docker-registry [skopeo]=skopeo [umoci]=umoci [htpasswd]=apache2-utils)
missing=()
for tool in "${!package[@]}"; do command -v "$tool" >/dev/null || missing+=("${package[$tool]}"); done
optional=()
command -v podman >/dev/null || optional+=(podman)
((${#missing[@]} + ${#optional[@]})) || exit 0

if [ "$(id -u)" = 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo); else
  if ((${#missing[@]})); then
    echo "error: the integration tests need: ${missing[*]}" >&2
    echo "hint: sudo apt-get install -y --no-install-recommends ${missing[*]} ${optional[*]}" \
      "(or run make test PYTEST_ARGS=--skip-registry for the tests without them)" >&2
    exit 2
  fi
  echo "note: podman is not installed; its test will skip (apt-get install -y podman)" >&2
  exit 0
fi

apt() { DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get "$@"; }
echo "installing: ${missing[*]} ${optional[*]}"
apt update -qq
if ((${#missing[@]})); then apt install -y -qq --no-install-recommends "${missing[@]}"; fi
if ((${#optional[@]})); then
  apt install -y -qq --no-install-recommends "${optional[@]}" || echo "note: podman could not be installed; its test will skip" >&2
fi

#!/usr/bin/env bash
# Prints the package-lock.json that the Nix build hands to fetchNpmDeps (nix/npm-lock.nix): the
# trimmed lock of nix/build-lock.nix, evaluated by Nix, with the tarball URLs of npm's built-in
# default registry (asked with an empty npm config, as in the build sandbox). Needs nix-instantiate
# and node, not nixpkgs. Its npmDepsHash (see ../shared/tools or `nix run .#update-npm-deps-hash`):
#
#   bash nix/print-build-lock.sh > /tmp/build-lock.json && prefetch-npm-deps /tmp/build-lock.json
#
# With --digest: prints the lockDigest that nix/npm-deps.json must record instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export NIX_CONFIG="${NIX_CONFIG:-build-users-group =}"
expr="let b = import $root/nix/build-lock.nix; built = b.fromFiles $root/package.json $root/package-lock.json; in"
if [ "${1:-}" = "--digest" ]; then
  nix-instantiate --eval --strict --json -E "$expr b.digest built" | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8"))'
  exit 0
fi
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
registry=$(cd "$empty" && env -u npm_config_registry -u NPM_CONFIG_REGISTRY HOME="$empty" \
  npm_config_userconfig="$empty/npmrc" npm_config_globalconfig="$empty/npmrc-global" npm config get registry)
nix-instantiate --eval --strict --json -E "$expr built.lock" | node "$root/nix/lock-with-resolved.mjs" "$registry"

# `nix run .#update-npm-deps-hash`: recomputes nix/npm-deps.json after the build's npm dependencies
# changed (package-lock.json, package.json or nix/build-lock.nix). Needs Nix and network
# (prefetch-npm-deps downloads every tarball once). Run it at the repository root, after
# `git add package-lock.json` (a flake sees only tracked files). Without nixpkgs:
# `bash nix/print-build-lock.sh` prints the same lock (see the README's "The npm dependency hash").
{
  writeShellApplication,
  prefetch-npm-deps,
  nix,
  coreutils,
  jq,
  # The lock with `resolved` URLs that the build uses (nix/package.nix); the digest of the trimmed
  # lock it was made from (nix/build-lock.nix), which npm-deps.json records; the sha256 of the
  # package-lock.json the flake was evaluated with.
  npmLock,
  lockDigest,
  sourceLockDigest,
}:
writeShellApplication {
  name = "update-npm-deps-hash";
  runtimeInputs = [
    prefetch-npm-deps
    nix
    coreutils
    jq
  ];
  text = ''
    if [ ! -f package-lock.json ] || [ ! -f nix/npm-deps.json ]; then
      echo "update-npm-deps-hash: run me at the root of the ros-rollback repository" >&2
      exit 1
    fi
    if [ "$(sha256sum package-lock.json | cut -d' ' -f1)" != "${sourceLockDigest}" ]; then
      echo "update-npm-deps-hash: ./package-lock.json is not the one this flake was evaluated with" >&2
      echo "  (git add package-lock.json, then run me again)" >&2
      exit 1
    fi
    echo "update-npm-deps-hash: prefetching the npm dependencies of ${npmLock}/package-lock.json" >&2
    hash=$(prefetch-npm-deps ${npmLock}/package-lock.json | tail -n 1)
    case "$hash" in
      sha256-*) ;;
      *) echo "update-npm-deps-hash: unexpected output from prefetch-npm-deps: $hash" >&2; exit 1 ;;
    esac
    digest=${lockDigest}
    jq -n --arg hash "$hash" --arg digest "$digest" \
      '{npmDepsHash: $hash, lockDigest: $digest}' > nix/npm-deps.json.tmp
    mv nix/npm-deps.json.tmp nix/npm-deps.json
    echo "update-npm-deps-hash: nix/npm-deps.json now records $hash for lock $digest" >&2
  '';
}

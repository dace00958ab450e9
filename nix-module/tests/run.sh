#!/usr/bin/env bash
# The Nix checks that run without nixpkgs (CI here has only Debian's nix-bin):
#  1. nix-instantiate --parse on every tracked .nix file;
#  2. the pure-Nix tests of nix-module/tests/pure.nix (nix-instantiate --eval --strict --json);
#  3. the stale-hash test: nix/npm-deps.json must record the digest of the lock the build installs
#     from (nix/build-lock.nix), so a changed lock with an old npmDepsHash fails here, not on a
#     robot builder.
# Prints one line per test and "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
export NIX_CONFIG="build-users-group ="
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "  ok   $1"; }
fail() { failed=$((failed + 1)); echo "  FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/       /'; }

if ! command -v nix-instantiate >/dev/null; then
  echo "nix-module/tests: nix-instantiate not found (apt-get install nix-bin)" >&2
  exit 1
fi

echo "== nix: parse every .nix file"
while IFS= read -r -d '' f; do
  if err=$(nix-instantiate --parse "$f" 2>&1 >/dev/null); then pass "parse $f"; else fail "parse $f" "$err"; fi
done < <(git ls-files -z --cached --others --exclude-standard -- '*.nix')

echo "== nix: pure tests (nix-module/tests/pure.nix)"
if json=$(nix-instantiate --eval --strict --json nix-module/tests/pure.nix 2>&1); then
  while IFS=$'\t' read -r ok name detail; do
    if [ "$ok" = true ]; then pass "$name"; else fail "$name" "$detail"; fi
  done < <(node -e '
    for (const t of JSON.parse(require("fs").readFileSync(0, "utf8"))) {
      const detail = t.ok ? "" : `got ${JSON.stringify(t.got)}, expected ${JSON.stringify(t.expected)}`;
      console.log([t.ok, t.name, detail].join("\t"));
    }' <<<"$json")
else
  fail "evaluate nix-module/tests/pure.nix" "$json"
fi

echo "== nix: the recorded npm dependency hash belongs to the build's lock"
if lock=$(bash nix/print-build-lock.sh --digest 2>&1); then
  recorded=$(node -p 'require("./nix/npm-deps.json").lockDigest')
  if [ "$lock" = "$recorded" ]; then
    pass "nix/npm-deps.json lockDigest = digest of the lock nix/build-lock.nix makes"
  else
    fail "nix/npm-deps.json lockDigest = digest of the lock nix/build-lock.nix makes" \
      "the build's lock is $lock, nix/npm-deps.json records $recorded: npmDepsHash is stale.
With network: bash nix/print-build-lock.sh > /tmp/lock.json, prefetch-npm-deps /tmp/lock.json
(README \"The npm dependency hash\"), or with nixpkgs: nix run .#update-npm-deps-hash"
  fi
else
  fail "nix/print-build-lock.sh --digest" "$lock"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

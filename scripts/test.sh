#!/usr/bin/env bash
# All tests: lint, types, generated code, unit tests, then the integration scenarios on a lab robot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== biome" >&2
npx biome ci .
echo "== typecheck" >&2
npx tsc -b proto nix-core agent controller relay
npx tsc --noEmit -p integration-tests
npx tsc --noEmit -p bench
# Test files too (the builds above exclude them).
npx tsc -p tsconfig.test.json
echo "== nix: parse, pure tests, npm hash digest (no nixpkgs here; see nix-module/tests)" >&2
bash nix-module/tests/run.sh
echo "== generated code is current" >&2
bash proto/generate.sh
git diff --exit-code -- proto/src/gen || { echo "proto/src/gen is stale: run npm run generate -w proto" >&2; exit 1; }

export NIX_CONFIG="build-users-group ="
# Two vitest processes: one vitest process runs every project's files in one pool (one worker on
# 2 cores), so a project alone cannot run beside another. The lab scenarios in one; the unit tests,
# then the VM robot's reboots, in the other (integration-tests/README.md says what they share).
( rc=0
  npx vitest run --project unit || rc=1
  npx vitest run --project vm || rc=1
  exit "$rc" ) 2>&1 | sed -u 's/^/[unit+vm] /' &
side=$!
main_rc=0
npx vitest run --project integration || main_rc=$?
side_rc=0
wait "$side" || side_rc=$?
if [ "$main_rc" -ne 0 ] || [ "$side_rc" -ne 0 ]; then
  echo "tests failed (integration: exit $main_rc; unit+vm: exit $side_rc)" >&2
  exit 1
fi

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
npx vitest run

#!/usr/bin/env bash
# The lab demo: boot a lab robot, deploy talker, deploy talker-header, show generations, roll back.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NIX_CONFIG="build-users-group ="

robot=${ROBOT:-demo}
json() { node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log(process.argv[1].split(".").reduce((o,k)=>o[k],v))' "$1"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "boot lab robot '$robot' (first run builds its root filesystem: a few minutes)"
up=$(npm run -s lab -- up "$robot")
inventory=$(json inventory <<<"$up")
key=$(json signingKey <<<"$up")

step "build the fixture systems with the host's Nix"
systems=$(npm run -s lab -- systems)
talker=$(json talker <<<"$systems")
header=$(json talker-header <<<"$systems")

rr() { node controller/dist/bundle/cli.js "$@" --inventory "$inventory" --target "$robot"; }

step "deploy talker"
rr deploy "$talker" --sign-key "$key"
npm run -s lab -- exec "$robot" -- rostopic echo -n 1 /chatter

step "deploy talker-header (roscore keeps running: its unit did not change)"
rr deploy "$header" --sign-key "$key"
npm run -s lab -- exec "$robot" -- rostopic echo -n 1 /chatter

step "generations"
rr generations

step "roll back to the recorded previous generation"
rr rollback
rr status

step "done; the robot keeps running. Stop it with: npm run lab -- down $robot"

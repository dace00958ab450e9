#!/usr/bin/env bash
# The lab demo: boot a lab robot, deploy talker, deploy talker-header, show generations, roll back.
# `npm run demo -- --nat`: the same with a robot behind NAT, reached only through the lab relay.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "") nat="" ;;
  --nat) nat="--nat" ;;
  *)
    echo "usage: npm run demo [-- --nat]" >&2
    exit 64
    ;;
esac
bash scripts/setup.sh
export NIX_CONFIG="build-users-group ="

robot=${ROBOT:-demo${nat:+-nat}}
json() { node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log(process.argv[1].split(".").reduce((o,k)=>o[k],v))' "$1"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "boot lab robot '$robot'${nat:+ behind NAT (nothing connects in; its agent dials out to the lab relay)} (first run builds its root filesystem: a few minutes)"
up=$(npm run -s lab -- up "$robot" $nat)
inventory=$(json inventory <<<"$up")
key=$(json signingKey <<<"$up")
if [ -n "$nat" ]; then
  echo "inventory: every command goes through the relay at $(json relay.address <<<"$up") to '$(json relay.name <<<"$up")'" >&2
  npm run -s lab -- wait-agent "$robot" 60
fi

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

#!/usr/bin/env bash
# Regenerates src/gen from the .proto files. Needs protoc (Debian: protobuf-compiler).
# The generated code is committed so that builds need no protoc; CI checks it is current.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf src/gen
mkdir -p src/gen
protoc \
  --plugin=protoc-gen-ts_proto=../node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out=src/gen \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,env=node,forceLong=number,importSuffix=.js,useOptionals=none,oneof=unions-value,useDate=false,outputTypeRegistry=false \
  -I . ros_rollback/v1/agent.proto
# ts-proto builds AgentClient with a module-level makeGenericClientConstructor call: importing the
# messages would load grpc-js (and node:http2) at once. src/clients.ts builds it on first use instead.
sed -i -e '/^export const AgentClient = makeGenericClientConstructor(/,/^};$/d' \
  -e '/^  makeGenericClientConstructor,$/d' src/gen/ros_rollback/v1/agent.ts

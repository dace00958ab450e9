// Bundles the `ros-rollback` command: dist/bundle/cli.cjs holds the CLI (src/cli.ts and what it
// imports, one CommonJS file), dist/bundle/cli.js (src/launch/main.ts) runs it with V8's code cache
// (src/launch/code-cache.ts). Loading the ~100 files of tsc's dist/ and node_modules one by one
// was ~0.1 s of every command's CPU, compiling the bundle's text at each start most of the rest
// (issue 13, bench/README.md). `npm run build` runs it after tsc, which still type-checks.
// Stack traces name cli.cjs; NODE_OPTIONS=--enable-source-maps maps them to src/ (not on by
// default: Node then parses every map at start-up).
import { createHash } from "node:crypto";
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { grpcClientOnly } from "./grpc-client-only.mjs";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
// Arguments for the check of which modules a command loads (bundle-graph.test.ts): another
// output directory, and the path to write esbuild's metafile to.
const [outArg, metafileArg] = process.argv.slice(2);
const outdir = outArg ?? here("dist/bundle");

rmSync(outdir, { recursive: true, force: true }); // nothing stale
const result = await build({
  entryPoints: { cli: here("src/cli.ts") },
  outdir,
  outExtension: { ".js": ".cjs" },
  bundle: true,
  platform: "node",
  // One file for one code cache: the import()s of cli.ts and commands/lazy.ts still run a module's
  // code (grpc-js's too) only when a command imports it; its text is compiled, or read from the cache.
  format: "cjs",
  target: "node20",
  sourcemap: "linked",
  // grpc-js requires it only for channelz and ORCA, which the controller never uses (~0.4 MB with protobufjs).
  external: ["@grpc/proto-loader"],
  plugins: [grpcClientOnly],
  // proto's index.ts names its .proto file relative to its module (the agent reads it, not the CLI).
  define: { "import.meta.url": "__bundleUrl" },
  banner: { js: '"use strict";\nconst __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: "warning",
  metafile: metafileArg !== undefined,
});
if (metafileArg !== undefined) writeFileSync(metafileArg, JSON.stringify(result.metafile));

const bundleId = createHash("sha256")
  .update(readFileSync(`${outdir}/cli.cjs`))
  .digest("hex")
  .slice(0, 32);
await build({
  entryPoints: { cli: here("src/launch/main.ts") },
  outdir,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  define: { BUNDLE_ID: JSON.stringify(bundleId) },
  logLevel: "warning",
});
chmodSync(`${outdir}/cli.js`, 0o755);

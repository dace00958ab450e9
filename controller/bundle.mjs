// Bundles the `ros-rollback` command into dist/bundle/cli.js (ESM, with chunks for the lazy imports):
// loading the ~100 files of tsc's dist/ and node_modules one by one was ~0.1 s of every command's
// CPU (issue 13, bench/README.md). `npm run build` runs it after tsc, which still type-checks.
// Stack traces name the chunks; NODE_OPTIONS=--enable-source-maps maps them to src/ (not on by
// default: Node then parses every map at start-up).
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
// Arguments for the check of which modules a command's chunks load (bundle-graph.test.ts):
// another output directory, and the path to write esbuild's metafile to.
const [outArg, metafileArg] = process.argv.slice(2);
const outdir = outArg ?? here("dist/bundle");

rmSync(outdir, { recursive: true, force: true }); // no stale chunks
const result = await build({
  entryPoints: { cli: here("src/cli.ts") },
  outdir,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // The import()s of cli.ts and commands/lazy.ts stay lazy: a command loads only its own code.
  splitting: true,
  sourcemap: "linked",
  // grpc-js requires it only for channelz and ORCA, which the controller never uses (~0.4 MB with protobufjs).
  external: ["@grpc/proto-loader"],
  // grpc-js is CommonJS and calls require(): ESM chunks have none of their own.
  banner: {
    js: 'import { createRequire as __createRequire } from "node:module";\nconst require = __createRequire(import.meta.url);',
  },
  logLevel: "warning",
  metafile: metafileArg !== undefined,
});
if (metafileArg !== undefined) writeFileSync(metafileArg, JSON.stringify(result.metafile));
chmodSync(`${outdir}/cli.js`, 0o755);

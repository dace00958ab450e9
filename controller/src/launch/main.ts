#!/usr/bin/env node
import { readFileSync } from "node:fs";
/**
 * The `ros-rollback` command as built (dist/bundle/cli.js): runs the CLI's CommonJS bundle
 * (cli.cjs beside it, src/cli.ts bundled) with V8's code cache (code-cache.ts). bundle.mjs
 * replaces BUNDLE_ID with the hash of cli.cjs's text.
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheFile, compile, readCache, writeCache } from "./code-cache.js";

declare const BUNDLE_ID: string;

const filename = fileURLToPath(new URL("./cli.cjs", import.meta.url));
const file = cacheFile(process.env, BUNDLE_ID, `${process.version}-${process.arch}`, process.argv.slice(2));
const { script, stale } = compile(
  readFileSync(filename, "utf8"),
  filename,
  file === undefined ? undefined : readCache(file.path),
);
// Written at exit, when the command has compiled what it ran (cli.ts exits through process.exit),
// and only after a success: a usage error or a failed connect compiled a fraction of a command.
if (file !== undefined && stale)
  process.once("exit", (code) => {
    if (code === 0) writeCache(file, script.createCachedData(), process.pid);
  });
const run = script.runInThisContext() as (
  exports: object,
  require: NodeJS.Require,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;
const module = { exports: {} };
run(module.exports, createRequire(filename), module, filename, dirname(filename));

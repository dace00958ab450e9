// The benchmark's closures: N store paths (random bytes, or the host's real binaries) and one root
// that refers to them all, built with the host's Nix and no nixpkgs. A new seed gives paths no
// robot has yet.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { BINARY_DIRS, hostBinaries, packFiles } from "./binaries.js";

const run = promisify(execFile);
const HOST_NIX_CONFIG = "build-users-group =\nsandbox = false\nsubstituters =";

export interface BenchClosure {
  readonly root: string;
  readonly paths: readonly string[];
  readonly bytes: number;
}

export async function buildRandomClosure(
  seed: string,
  paths: number,
  totalBytes: number,
): Promise<BenchClosure> {
  const each = Math.max(1, Math.floor(totalBytes / paths));
  const expr = `let
    blob = i: derivation {
      name = "bench-${seed}-\${toString i}";
      system = builtins.currentSystem;
      builder = "/bin/sh";
      args = [ "-c" "/usr/bin/head -c ${each} /dev/urandom > $out" ];
    };
    blobs = builtins.genList blob ${paths};
  in derivation {
    name = "bench-${seed}-root";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo \${builtins.concatStringsSep " " (map toString blobs)} > $out" ];
  }`;
  return { ...(await nixBuild(expr)), bytes: each * paths };
}

/** nix-builds `expr`; its output and closure. */
async function nixBuild(expr: string): Promise<{ root: string; paths: string[] }> {
  const env = { ...process.env, NIX_CONFIG: HOST_NIX_CONFIG };
  const { stdout } = await run("nix-build", ["-E", expr, "--no-out-link"], { env, maxBuffer: 1 << 20 });
  const root = stdout.trim();
  const req = await run("nix-store", ["-qR", root], { env, maxBuffer: 16 << 20 });
  return { root, paths: req.stdout.split("\n").filter((l) => l !== "") };
}

export type ClosureKind = "random" | "binaries";

/** BENCH_CLOSURE: random, binaries or both (the default). */
export function closureKinds(value = "both"): ClosureKind[] {
  if (value === "both") return ["random", "binaries"];
  if (value === "random" || value === "binaries") return [value];
  throw new Error("BENCH_CLOSURE must be random, binaries or both");
}

export function buildClosure(
  kind: ClosureKind,
  seed: string,
  paths: number,
  totalBytes: number,
): Promise<BenchClosure> {
  return kind === "random"
    ? buildRandomClosure(seed, paths, totalBytes)
    : buildBinariesClosure(seed, paths, totalBytes);
}

/**
 * Up to `paths` store paths of the host's ELF files (libraries, executables; ~totalBytes in all)
 * and a root. The builder copies the files from the host (no sandbox), so the content is the
 * same for every seed: only the names, hence the store paths, are new.
 */
export async function buildBinariesClosure(
  seed: string,
  paths: number,
  totalBytes: number,
): Promise<BenchClosure> {
  const groups = packFiles(
    hostBinaries(BINARY_DIRS, 1.5 * totalBytes, (4 * totalBytes) / paths),
    paths,
    totalBytes,
  );
  const q = (s: string) => JSON.stringify(s).replaceAll("$", "\\$");
  const group = (files: readonly { path: string }[], i: number) => `(derivation {
      name = "bench-bin-${seed}-${i}";
      system = builtins.currentSystem;
      builder = "/bin/sh";
      PATH = "/bin:/usr/bin";
      args = [ "-c" ${q(COPY)} "copy" ${files.map((f) => q(f.path)).join(" ")} ];
    })`;
  const expr = `let
    groups = [ ${groups.map(group).join("\n")} ];
  in derivation {
    name = "bench-bin-${seed}-root";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo \${builtins.concatStringsSep " " (map toString groups)} > $out" ];
  }`;
  const bytes = groups.flat().reduce((s, f) => s + f.size, 0);
  return { ...(await nixBuild(expr)), bytes };
}

/** A group's builder: its files into $out, numbered (two libraries may share a base name). */
const COPY =
  'set -e; mkdir $out; i=0; for f in "$@"; do cp "$f" "$out/$i-$(basename "$f")"; i=$((i+1)); done';

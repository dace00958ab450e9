// The benchmark's closures: store paths of random bytes (incompressible) or of the host's real ELF
// binaries (zstd shrinks them to ~¼), and one root that refers to them all, built with the host's
// Nix and no nixpkgs. A new seed gives paths no robot has yet.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { BINARY_DIRS, hostBinaries, packFiles } from "./binaries.js";

const run = promisify(execFile);
const HOST_NIX_CONFIG = "build-users-group =\nsandbox = false\nsubstituters =";
const env = () => ({ ...process.env, NIX_CONFIG: HOST_NIX_CONFIG });

export interface BenchClosure {
  readonly root: string;
  readonly paths: readonly string[];
  readonly bytes: number;
}

export const CLOSURE_KINDS = ["random", "binaries"] as const;
export type ClosureKind = (typeof CLOSURE_KINDS)[number];

/** BENCH_CLOSURE and the like: random, binaries or both. */
export function closureKinds(value: string, name = "BENCH_CLOSURE"): ClosureKind[] {
  if (value === "both") return [...CLOSURE_KINDS];
  if (value === "random" || value === "binaries") return [value];
  throw new Error(`${name} must be random, binaries or both`);
}

const checkSeed = (seed: string) => {
  if (!/^[a-z0-9-]{1,40}$/.test(seed)) throw new Error("closure seed: 1-40 of a-z, 0-9, -");
};

/** `paths` paths of about `totalBytes` in all, of the given kind. */
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

/** `paths` paths of equal size, `totalBytes` in all. */
export function buildRandomClosure(seed: string, paths: number, totalBytes: number): Promise<BenchClosure> {
  const each = Math.max(1, Math.floor(totalBytes / paths));
  return buildClosureOfSizes(
    seed,
    Array.from({ length: paths }, () => each),
  );
}

/** One path of random bytes per entry of `sizes` (bytes), and the root. */
export async function buildClosureOfSizes(seed: string, sizes: readonly number[]): Promise<BenchClosure> {
  checkSeed(seed);
  if (sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new Error("closure sizes: whole bytes ≥ 1");
  const expr = `let
    sizes = [ ${sizes.join(" ")} ];
    blob = i: derivation {
      name = "bench-${seed}-\${toString i}";
      system = builtins.currentSystem;
      builder = "/bin/sh";
      args = [ "-c" "/usr/bin/head -c \${toString (builtins.elemAt sizes i)} /dev/urandom > $out" ];
    };
    blobs = builtins.genList blob (builtins.length sizes);
  in derivation {
    name = "bench-${seed}-root";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo \${builtins.concatStringsSep " " (map toString blobs)} > $out" ];
  }`;
  return { ...(await nixBuild(expr)), bytes: sizes.reduce((a, b) => a + b, 0) };
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
  checkSeed(seed);
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

/**
 * nix-builds `expr`; its output and closure. The expression goes in a file: a binaries closure's
 * names every file, and Linux refuses one argument over 128 KiB (E2BIG) as `-E EXPR`.
 */
export async function nixBuild(expr: string): Promise<{ root: string; paths: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), "bench-closure-"));
  let stdout: string;
  try {
    const file = join(dir, "closure.nix");
    await writeFile(file, expr);
    ({ stdout } = await run("nix-build", [file, "--no-out-link"], { env: env(), maxBuffer: 1 << 20 }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const root = stdout.trim();
  const req = await run("nix-store", ["-qR", root], { env: env(), maxBuffer: 16 << 20 });
  return { root, paths: req.stdout.split("\n").filter((l) => l !== "") };
}

/** Deletes the closure from the host's store (it has no GC root). */
export async function deleteClosure(closure: BenchClosure): Promise<void> {
  await run("nix-store", ["--delete", ...closure.paths], { env: env(), maxBuffer: 16 << 20 });
}

// The benchmark's closures: store paths of random bytes and one root that refers to them all,
// built with the host's Nix and no nixpkgs. A new seed gives paths no robot has yet.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
const HOST_NIX_CONFIG = "build-users-group =\nsandbox = false\nsubstituters =";
const env = () => ({ ...process.env, NIX_CONFIG: HOST_NIX_CONFIG });

export interface BenchClosure {
  readonly root: string;
  readonly paths: readonly string[];
  readonly bytes: number;
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
  if (!/^[a-z0-9-]{1,40}$/.test(seed)) throw new Error("closure seed: 1-40 of a-z, 0-9, -");
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
  const { stdout } = await run("nix-build", ["-E", expr, "--no-out-link"], {
    env: env(),
    maxBuffer: 1 << 20,
  });
  const root = stdout.trim();
  const req = await run("nix-store", ["-qR", root], { env: env(), maxBuffer: 16 << 20 });
  const all = req.stdout.split("\n").filter((l) => l !== "");
  return { root, paths: all, bytes: sizes.reduce((a, b) => a + b, 0) };
}

/** Deletes the closure from the host's store (it has no GC root). */
export async function deleteClosure(closure: BenchClosure): Promise<void> {
  await run("nix-store", ["--delete", ...closure.paths], { env: env(), maxBuffer: 16 << 20 });
}

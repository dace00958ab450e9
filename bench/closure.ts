// The benchmark's closure: N store paths of random bytes and one root that refers to them all,
// built with the host's Nix and no nixpkgs. A new seed gives paths no robot has yet.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

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
  const env = { ...process.env, NIX_CONFIG: HOST_NIX_CONFIG };
  const { stdout } = await run("nix-build", ["-E", expr, "--no-out-link"], { env, maxBuffer: 1 << 20 });
  const root = stdout.trim();
  const req = await run("nix-store", ["-qR", root], { env, maxBuffer: 16 << 20 });
  const all = req.stdout.split("\n").filter((l) => l !== "");
  return { root, paths: all, bytes: each * paths };
}

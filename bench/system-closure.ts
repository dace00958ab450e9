// A deployable system (the lab's talker/listener units) whose closure carries N payload paths of
// random bytes. Variants of one seed differ in exactly one payload path (index 0) and so in the
// system's toplevel: everything else is the same store path in every variant.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const LAB_LIB = fileURLToPath(new URL("../integration-tests/lab/systems/lib.nix", import.meta.url));
const HOST_NIX_CONFIG = "build-users-group =\nsandbox = false\nsubstituters =";

export interface PayloadSystemSpec {
  /** Names the payload paths: a new seed gives paths no robot has yet. */
  readonly seed: string;
  /** Only payload path 0 depends on it. */
  readonly variant: string;
  readonly paths: number;
  readonly bytesPerPath: number;
}

const word = /^[A-Za-z0-9-]{1,64}$/;

/** The Nix expression of the system (pure). */
export function payloadSystemExpr(spec: PayloadSystemSpec, labLib = LAB_LIB): string {
  if (!word.test(spec.seed) || !word.test(spec.variant))
    throw new Error("seed and variant: [A-Za-z0-9-]{1,64}");
  if (!Number.isInteger(spec.paths) || spec.paths < 1) throw new Error("paths: a positive integer");
  if (!Number.isInteger(spec.bytesPerPath) || spec.bytesPerPath < 1)
    throw new Error("bytesPerPath: a positive integer");
  return `let
    lab = import ${labLib};
    blob = i: derivation {
      name = "bd-${spec.seed}-\${toString i}";
      system = builtins.currentSystem;
      builder = "/bin/sh";
      variant = if i == 0 then "${spec.variant}" else "";
      args = [ "-c" "/usr/bin/head -c ${spec.bytesPerPath} /dev/urandom > $out" ];
    };
    blobs = builtins.genList blob ${spec.paths};
  in lab.mkSystemWith "bd-${spec.seed}" [
    lab.roscore
    (lab.node "talker" "talker.py" { })
    (lab.node "listener" "listener.py" { })
  ] "echo \${builtins.concatStringsSep " " (map toString blobs)} > $out/payload"`;
}

export interface PayloadSystem {
  readonly toplevel: string;
  /** The whole closure (nix-store -qR). */
  readonly closure: readonly string[];
}

export async function buildPayloadSystem(spec: PayloadSystemSpec, labLib = LAB_LIB): Promise<PayloadSystem> {
  const env = { ...process.env, NIX_CONFIG: HOST_NIX_CONFIG };
  const expr = payloadSystemExpr(spec, labLib);
  const { stdout } = await run("nix-build", ["-E", expr, "--no-out-link"], { env, maxBuffer: 1 << 20 });
  const toplevel = stdout.trim();
  const req = await run("nix-store", ["-qR", toplevel], { env, maxBuffer: 16 << 20 });
  return { toplevel, closure: req.stdout.split("\n").filter((l) => l !== "") };
}

/** Paths of `next` that `prev` lacks. */
export function closureDiff(prev: readonly string[], next: readonly string[]): string[] {
  const had = new Set(prev);
  return next.filter((p) => !had.has(p));
}

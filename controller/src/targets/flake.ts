/**
 * Flakes, as deploy-rs uses them: `deploy .#nixos-vm` builds
 * `.#nixosConfigurations.nixos-vm.config.system.build.toplevel` with
 * `nix build --no-link --print-out-paths` and deploys the store path it
 * prints; an inventory can be a flake attribute (`--inventory
 * .#rosRollback.nodes`, read with `nix eval --json`), and `deploy FLAKE#NAME`
 * without --inventory reads `FLAKE#rosRollback.nodes`.
 */
import { spawn } from "node:child_process";
import { isAbsolute, join, resolve } from "node:path";
import { UserError } from "../core/errors.js";
import { type Inventory, parseInventory } from "./inventory.js";

/** Nix 2.8 needs them for `nix build`/`nix eval` on flakes; later versions accept them too. */
export const NIX_FLAGS = ["--extra-experimental-features", "nix-command flakes"] as const;

/** Where a flake keeps its inventory: `rosRollback.nodes.<name> = { address, caFile, certFile, keyFile, serverName? }`. */
export const FLAKE_INVENTORY_ATTR = "rosRollback.nodes";

export interface FlakeRef {
  /** The flake reference before `#`: `.`, `/src/robots`, `github:org/robots`, … */
  readonly flake: string;
  /** The attribute after `#`. */
  readonly attr: string;
}

/** `FLAKE#ATTR` → its parts; anything without `#` (a store path, ./result) is not a flake reference. */
export function parseFlakeRef(arg: string): FlakeRef | undefined {
  const i = arg.indexOf("#");
  if (i < 0) return undefined;
  const flake = arg.slice(0, i);
  const attr = arg.slice(i + 1);
  if (flake === "" || attr === "") {
    throw new UserError(`"${arg}": expected FLAKE#NAME, e.g. .#nixos-vm`);
  }
  return { flake, attr };
}

/**
 * What `nix build` builds for `FLAKE#NAME`: the NixOS configuration's toplevel.
 * An attribute path with a dot is taken as it is (`.#nixosConfigurations.a.config.system.build.toplevel`).
 */
export function toplevelAttr(attr: string): string {
  if (attr.includes(".") || attr.includes('"')) return attr;
  const name = /^[A-Za-z_][A-Za-z0-9_'-]*$/.test(attr) ? attr : JSON.stringify(attr);
  return `nixosConfigurations.${name}.config.system.build.toplevel`;
}

/** The local directory of a path-like flake reference (relative TLS paths resolve there); undefined for remote ones. */
export function localFlakeDir(flake: string, cwd: string): string | undefined {
  const path = flake.replace(/^(path:|git\+file:\/\/)/, "").replace(/\?.*$/, "");
  if (
    path === flake &&
    !(flake === "." || flake.startsWith("./") || flake.startsWith("../") || isAbsolute(flake))
  )
    return undefined;
  return resolve(cwd, path);
}

export interface NixRun {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly signal: AbortSignal;
  /** nix's progress and messages (its stderr), line by line. */
  readonly log?: (line: string) => void;
}

/** Runs `nix NIX_FLAGS… args…` (nix from PATH) and returns its stdout; a failure is a UserError with nix's last words. */
export function runNix(args: readonly string[], run: NixRun): Promise<string> {
  const argv = [...NIX_FLAGS, ...args];
  return new Promise((resolvePromise, reject) => {
    const child = spawn("nix", argv, {
      cwd: run.cwd,
      env: run.env as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
      signal: run.signal,
    });
    let stdout = "";
    let stderrTail: string[] = [];
    let partial = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        run.log?.(line);
        stderrTail = [...stderrTail.slice(-19), line];
      }
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (e.name === "AbortError") reject(run.signal.reason ?? e);
      else if (e.code === "ENOENT")
        reject(new UserError("nix was not found on PATH (flake references need Nix 2.8 or later)"));
      else reject(new UserError(`cannot run nix: ${e.message}`, { cause: e }));
    });
    child.on("close", (code, sig) => {
      if (partial !== "") {
        run.log?.(partial);
        stderrTail = [...stderrTail.slice(-19), partial];
      }
      if (code === 0) {
        resolvePromise(stdout);
        return;
      }
      if (run.signal.aborted) return; // rejected by the error handler
      const why = stderrTail
        .filter((l) => l.trim() !== "")
        .slice(-5)
        .join("\n  ");
      reject(
        new UserError(
          `nix ${args.join(" ")} failed (${sig ?? `exit ${code}`})${why === "" ? "" : `:\n  ${why}`}`,
        ),
      );
    });
  });
}

/** Builds FLAKE#NAME's toplevel without a result link and returns the store path nix printed. */
export async function buildToplevel(ref: FlakeRef, run: NixRun): Promise<string> {
  const installable = `${ref.flake}#${toplevelAttr(ref.attr)}`;
  const out = await runNix(["build", "--no-link", "--print-out-paths", installable], run);
  const paths = out.split("\n").filter((l) => l.trim() !== "");
  const path = paths[paths.length - 1]?.trim();
  if (paths.length !== 1 || path === undefined || !path.startsWith("/")) {
    throw new UserError(
      `nix build ${installable} printed ${paths.length} paths, expected one store path: ${JSON.stringify(out.trim())}`,
    );
  }
  return path;
}

/**
 * The inventory at `FLAKE#ATTR` (`nix eval --json`): `{ <name>: { address, caFile, certFile, keyFile, serverName? } }`,
 * the `targets` of a JSON inventory. Relative TLS paths resolve against a local flake's directory, else `cwd`.
 */
export async function loadFlakeInventory(ref: FlakeRef, run: NixRun): Promise<Inventory> {
  const installable = `${ref.flake}#${ref.attr}`;
  const out = await runNix(["eval", "--json", installable], run);
  let nodes: unknown;
  try {
    nodes = JSON.parse(out);
  } catch (e) {
    throw new UserError(`nix eval --json ${installable}: not JSON: ${(e as Error).message}`, { cause: e });
  }
  const dir = localFlakeDir(ref.flake, run.cwd) ?? run.cwd;
  // parseInventory resolves relative paths against the directory of the "file" it is given.
  return parseInventory({ targets: nodes }, join(dir, `flake.nix#${ref.attr}`));
}

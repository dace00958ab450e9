// Fixture system closures (systems/*.nix), built with the host's Nix and no nixpkgs.
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { CACHE_DIR, LAB_DIR } from "./config.js";
import { LabError, run } from "./proc.js";

const SYSTEMS_NIX = join(LAB_DIR, "systems", "default.nix");
/** Out-links here keep the built systems from the host's garbage collector. */
const GC_ROOTS = join(CACHE_DIR, "systems");

/** Root uses Nix without build users; the builders run /bin/sh from the host, so no sandbox. */
export const HOST_NIX_ENV = { NIX_CONFIG: "build-users-group =\nsandbox = false" } as const;

interface Opts {
  signal?: AbortSignal;
  timeoutMs?: number;
}

const nix = (cmd: string, args: string[], opts: Opts) =>
  run(cmd, args, {
    timeoutMs: opts.timeoutMs ?? 120_000,
    signal: opts.signal,
    env: { ...process.env, ...HOST_NIX_ENV },
  });

/** Builds every fixture system; returns name → store path (talker, talker-header, …). */
export async function buildSystems(opts: Opts = {}): Promise<Record<string, string>> {
  const listed = await nix(
    "nix-instantiate",
    ["--eval", "--json", "-E", `builtins.attrNames (import ${SYSTEMS_NIX})`],
    opts,
  );
  const names = JSON.parse(listed.stdout) as string[];
  mkdirSync(GC_ROOTS, { recursive: true });
  const built = await nix(
    "nix-build",
    [SYSTEMS_NIX, ...names.flatMap((n) => ["-A", n]), "--out-link", join(GC_ROOTS, "result")],
    opts,
  );
  const paths = built.stdout.trim().split("\n");
  if (paths.length !== names.length || !paths.every((p) => p.startsWith("/nix/store/"))) {
    throw new LabError(`nix-build printed ${paths.length} paths for ${names.length} systems`);
  }
  return Object.fromEntries(names.map((n, i) => [n, paths[i] as string]));
}

const SIZED_NIX = join(LAB_DIR, "systems", "sized.nix");

/**
 * Builds `sized-<mib>m-<i>` for the given indices (systems/sized.nix: talker plus `mib` MiB of
 * random bytes; `-crashing`: its switch exits 4); returns name → store path.
 */
export async function buildSizedSystems(
  mib: number,
  systems: readonly { index: number; crashing: boolean }[],
  opts: Opts = {},
): Promise<Record<string, string>> {
  const count = Math.max(...systems.map((s) => s.index));
  const names = systems.map((s) => `sized-${mib}m-${s.index}${s.crashing ? "-crashing" : ""}`);
  mkdirSync(GC_ROOTS, { recursive: true });
  const built = await nix(
    "nix-build",
    [
      SIZED_NIX,
      ...["--arg", "mib", String(mib), "--arg", "count", String(count)],
      ...names.flatMap((n) => ["-A", n]),
      // One out-link set per list: another list's build does not unroot these.
      ...[
        "--out-link",
        join(GC_ROOTS, `sized-${createHash("sha256").update(names.join(" ")).digest("hex").slice(0, 12)}`),
      ],
    ],
    { timeoutMs: 600_000, ...opts },
  );
  const paths = built.stdout.trim().split("\n");
  if (paths.length !== names.length || !paths.every((p) => p.startsWith("/nix/store/"))) {
    throw new LabError(`nix-build printed ${paths.length} paths for ${names.length} sized systems`);
  }
  return Object.fromEntries(names.map((n, i) => [n, paths[i] as string]));
}

/** The closure of a store path, as `nix-store --export` bytes (pipe into `nix-store --import`). */
export async function exportClosure(storePath: string, opts: Opts = {}): Promise<Buffer> {
  const closure = (await nix("nix-store", ["-qR", storePath], opts)).stdout.trim().split("\n");
  return (await nix("nix-store", ["--export", ...closure], opts)).stdoutBytes;
}

const KERNEL_NIX = join(LAB_DIR, "systems", "kernel.nix");
export const KERNEL_SYSTEMS = ["kernel-ok", "kernel-ok-b", "kernel-unhealthy", "kernel-panic"] as const;
export type KernelSystem = (typeof KERNEL_SYSTEMS)[number];

/**
 * Builds the VM robot's systems with a kernel (systems/kernel.nix) from the VM image's kernel and
 * initrd (`imageDir`, vm-image.ts's ensureVmImage); returns name → store path.
 */
export async function buildKernelSystems(
  imageDir: string,
  opts: Opts = {},
): Promise<Record<KernelSystem, string>> {
  mkdirSync(GC_ROOTS, { recursive: true });
  const built = await nix(
    "nix-build",
    [
      KERNEL_NIX,
      ...["--arg", "vmlinuz", join(imageDir, "vmlinuz"), "--arg", "initrd", join(imageDir, "initrd.img")],
      ...KERNEL_SYSTEMS.flatMap((n) => ["-A", n]),
      ...["--out-link", join(GC_ROOTS, "kernel")],
    ],
    { timeoutMs: 300_000, ...opts },
  );
  const paths = built.stdout.trim().split("\n");
  if (paths.length !== KERNEL_SYSTEMS.length || !paths.every((p) => p.startsWith("/nix/store/"))) {
    throw new LabError(`nix-build printed ${paths.length} paths for ${KERNEL_SYSTEMS.length} kernel systems`);
  }
  return Object.fromEntries(KERNEL_SYSTEMS.map((n, i) => [n, paths[i] as string])) as Record<
    KernelSystem,
    string
  >;
}

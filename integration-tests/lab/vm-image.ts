// The VM robot's base disks (root ext4, EFI system partition), built once from the cached rootfs and
// the host's kernel, cached under a key of their inputs like the rootfs.
import { createHash } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
} from "node:fs";
import { delimiter, join } from "node:path";
import { CACHE_DIR, LAB_DIR } from "./config.js";
import { LabError, run } from "./proc.js";
import { ensureRootfs } from "./rootfs.js";

const BUILD_SCRIPT = join(LAB_DIR, "build-vm-image.sh");
export const OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd";
export const OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const SYSTEMD_BOOT = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
const TOOLS = [
  "qemu-system-x86_64",
  "qemu-img",
  "mkfs.ext4",
  "mkfs.vfat",
  "mcopy",
  "sfdisk",
  "mkinitramfs",
] as const;

function onPath(tool: string): boolean {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin"];
  return dirs.some((d) => {
    try {
      accessSync(join(d, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The host kernel the VM boots (Debian's linux-image-amd64): the newest /boot/vmlinuz-VERSION. */
function hostKernel(): string | undefined {
  const versions = existsSync("/boot")
    ? readdirSync("/boot").flatMap((f) => (f.startsWith("vmlinuz-") ? [f.slice("vmlinuz-".length)] : []))
    : [];
  return versions.sort().at(-1);
}

/** Fails with one line naming what is missing (setup-host.sh installs it all). */
export function checkVmHost(): string {
  const missing: string[] = TOOLS.filter((t) => !onPath(t));
  for (const f of [OVMF_CODE, OVMF_VARS, SYSTEMD_BOOT]) if (!existsSync(f)) missing.push(f);
  const kernel = hostKernel();
  if (kernel === undefined) missing.push("/boot/vmlinuz-* (linux-image-amd64)");
  if (missing.length > 0 || kernel === undefined) {
    throw new LabError(
      `up --vm needs ${missing.join(", ")}: run integration-tests/lab/setup-host.sh`.slice(0, 400),
    );
  }
  return kernel;
}

const fileId = (file: string): string => {
  const s = statSync(file);
  return `${file}:${s.size}:${s.mtimeMs}`;
};

export interface VmImageOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  log?: (line: string) => void;
}

/** The cached base disks' directory (root.img, esp.img, vmlinuz, initrd.img), built if needed. */
export async function ensureVmImage(kernel: string, opts: VmImageOptions = {}): Promise<string> {
  const rootfs = await ensureRootfs(opts);
  const node = realpathSync(process.execPath);
  const hash = createHash("sha256");
  for (const part of [
    readFileSync(BUILD_SCRIPT, "utf8"),
    rootfs,
    kernel,
    fileId(`/boot/vmlinuz-${kernel}`),
    fileId(node),
    fileId(SYSTEMD_BOOT),
  ])
    hash.update(`${part}\0`);
  const path = join(CACHE_DIR, `vm-${hash.digest("hex").slice(0, 16)}`);
  if (existsSync(path)) return path;
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  opts.log?.(`lab: building the VM disk image ${path} (once)`);
  const started = Date.now();
  await run(
    "flock",
    [
      "-w",
      String(Math.ceil(timeoutMs / 1000)),
      join(CACHE_DIR, "build.lock"),
      BUILD_SCRIPT,
      path,
      rootfs,
      kernel,
      node,
    ],
    { timeoutMs, signal: opts.signal },
  ).catch((e: unknown) => {
    throw new LabError(`VM image build failed: ${e instanceof Error ? e.message : String(e)}`.slice(0, 600), {
      cause: e,
    });
  });
  opts.log?.(`lab: VM image built in ${Math.round((Date.now() - started) / 1000)} s`);
  return path;
}

/** The VM image for this host's kernel (built if needed): where kernel systems get vmlinuz and initrd.img. */
export function labVmImage(opts: VmImageOptions = {}): Promise<string> {
  return ensureVmImage(checkVmHost(), opts);
}

// Small disks for a robot: its /nix (the store) and /boot each on an ext4 image of a given size,
// loop-mounted over the robot's root, so a test can fill them as an 8 GB eMMC fills.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { RobotPaths } from "./config.js";
import { LabError, run } from "./proc.js";

/** A disk of the robot: mounted at `mountPoint` inside it; its image under the robot's directory. */
export interface LabDisk {
  readonly kind: "store" | "boot";
  /** Inside the robot. */
  readonly mountPoint: "/nix" | "/boot";
}

export const DISKS: readonly LabDisk[] = [
  { kind: "store", mountPoint: "/nix" },
  { kind: "boot", mountPoint: "/boot" },
];

export type DiskSizes = Partial<Record<LabDisk["kind"], number>>;

const MiB = 1048576;
/** ext4 with a journal wants a few MiB; a store bigger than the host's spare room helps nobody. */
export const DISK_MIN_BYTES = 8 * MiB;
export const DISK_MAX_BYTES = 64 * 1024 * MiB;

/** "600M", "2G" (MiB, GiB) to bytes, or undefined when it is not such a size within bounds. */
export function parseSize(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,5})([MG])$/.exec(text);
  if (m === null) return undefined;
  const bytes = Number(m[1]) * (m[2] === "G" ? 1024 * MiB : MiB);
  return bytes >= DISK_MIN_BYTES && bytes <= DISK_MAX_BYTES ? bytes : undefined;
}

const diskDir = (paths: RobotPaths): string => join(paths.dir, "disks");
const image = (paths: RobotPaths, disk: LabDisk): string => join(diskDir(paths), `${disk.kind}.img`);
/** Made, filled and checked here first; renamed to the image only when complete. */
const partial = (paths: RobotPaths, disk: LabDisk): string => `${image(paths, disk)}.partial`;
const staging = (paths: RobotPaths, disk: LabDisk): string => join(diskDir(paths), `${disk.kind}.staging`);
const target = (paths: RobotPaths, disk: LabDisk): string => join(paths.root, disk.mountPoint.slice(1));

function mountPoints(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((p) => p !== "");
}

const isMounted = (path: string): boolean => mountPoints().includes(path);

async function umount(path: string): Promise<void> {
  const r = await run("umount", [path], { timeoutMs: 30_000, check: false });
  if (r.code !== 0) await run("umount", ["-l", path], { timeoutMs: 10_000 });
}

/** Loop devices still backed by `file` (a crash between attach and mount, or a lazy unmount). */
async function detachLoops(file: string): Promise<void> {
  if (!existsSync(file)) return;
  const r = await run("losetup", ["-j", file], { timeoutMs: 10_000, check: false });
  for (const dev of r.stdout.split("\n").map((l) => l.split(":")[0] ?? "")) {
    if (dev.startsWith("/dev/loop")) await run("losetup", ["-d", dev], { timeoutMs: 10_000, check: false });
  }
}

/** Size of the robot's disk image, if it has one (complete). */
export function diskSize(paths: RobotPaths, disk: LabDisk): number | undefined {
  const file = image(paths, disk);
  return existsSync(file) ? statSync(file).size : undefined;
}

/** A robot keeps the disks it was made with: another size, or a new disk for a running robot, is refused. */
export function checkDiskSizes(name: string, paths: RobotPaths, sizes: DiskSizes, running: boolean): void {
  for (const disk of DISKS) {
    const wanted = sizes[disk.kind];
    const has = diskSize(paths, disk);
    if (wanted === undefined || has === wanted) continue;
    if (has !== undefined)
      throw new LabError(
        `robot ${name} has a ${mib(has)} ${disk.kind} disk, not ${mib(wanted)}: down it first`,
      );
    if (running) throw new LabError(`robot ${name} is running without a ${disk.kind} disk: down it first`);
  }
}

const mib = (bytes: number): string => `${bytes / MiB} MiB`;

/**
 * Gives the robot (its overlay root mounted, the robot not running) each disk it has or is asked
 * for: a new one is made at `sizes[kind]` holding what the root had at its mount point, an
 * existing one is mounted again. A size that differs from the robot's disk is refused.
 */
export async function mountDisks(name: string, paths: RobotPaths, sizes: DiskSizes): Promise<void> {
  checkDiskSizes(name, paths, sizes, false);
  for (const disk of DISKS) {
    await clearPartial(paths, disk);
    const wanted = sizes[disk.kind];
    if (diskSize(paths, disk) === undefined && wanted !== undefined) await makeDisk(paths, disk, wanted);
    if (diskSize(paths, disk) === undefined || isMounted(target(paths, disk))) continue;
    await detachLoops(image(paths, disk));
    mkdirSync(target(paths, disk), { recursive: true });
    await run("mount", ["-o", "loop", image(paths, disk), target(paths, disk)], { timeoutMs: 30_000 });
  }
}

/** A new image: ext4 without reserved blocks, holding a copy of the root's mount point. */
async function makeDisk(paths: RobotPaths, disk: LabDisk, bytes: number): Promise<void> {
  const file = partial(paths, disk);
  const mnt = staging(paths, disk);
  mkdirSync(mnt, { recursive: true });
  await run("truncate", ["-s", String(bytes), file], { timeoutMs: 10_000 });
  await run("mkfs.ext4", ["-q", "-F", "-m", "0", "-L", `lab-${disk.kind}`, file], { timeoutMs: 60_000 });
  await run("mount", ["-o", "loop", file, mnt], { timeoutMs: 30_000 });
  try {
    const from = target(paths, disk);
    mkdirSync(from, { recursive: true });
    rmSync(join(mnt, "lost+found"), { recursive: true, force: true });
    await run("cp", ["-a", `${from}/.`, `${mnt}/`], { timeoutMs: 300_000 });
  } finally {
    await umount(mnt);
  }
  rmSync(mnt, { recursive: true, force: true });
  renameSync(file, image(paths, disk));
}

/** What a make that died half-way left: its staging mount, loop device and image. */
async function clearPartial(paths: RobotPaths, disk: LabDisk): Promise<void> {
  const mnt = staging(paths, disk);
  if (isMounted(mnt)) await umount(mnt);
  await detachLoops(partial(paths, disk));
  rmSync(partial(paths, disk), { force: true });
  rmSync(mnt, { recursive: true, force: true });
}

/** Unmounts the robot's disks (the robot stopped) and frees their loop devices; the images stay. */
export async function unmountDisks(paths: RobotPaths): Promise<void> {
  for (const disk of DISKS) {
    if (isMounted(target(paths, disk))) await umount(target(paths, disk));
    await clearPartial(paths, disk);
    await detachLoops(image(paths, disk));
  }
}

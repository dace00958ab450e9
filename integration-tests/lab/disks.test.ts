// The robot's small disks without booting it: made from what its root holds, mounted again, and
// what a crashed `up` left (a half-made image, its staging mount and loop device) cleared by the
// next up or down. Real ext4 images on real loop devices (needs root, as the lab does).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { robotPaths } from "./config.js";
import { mountDisks, parseSize, unmountDisks } from "./disks.js";
import { run } from "./proc.js";
import { labDown } from "./robot.js";

const NAME = "dk-lab-disks";
const paths = robotPaths(NAME);
const MiB = 1048576;

const mounted = (): string[] =>
  readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p.startsWith(`${paths.dir}/`));

const loops = async (): Promise<string> =>
  (await run("losetup", ["-a"], { check: false })).stdout
    .split("\n")
    .filter((l) => l.includes(paths.dir))
    .join("\n");

/** What `up` killed between mounting a new image and renaming it complete leaves behind. */
async function crashedMake(): Promise<void> {
  const disks = join(paths.dir, "disks");
  mkdirSync(join(disks, "store.staging"), { recursive: true });
  await run("truncate", ["-s", String(16 * MiB), join(disks, "store.img.partial")]);
  await run("mkfs.ext4", ["-q", "-F", join(disks, "store.img.partial")], { timeoutMs: 60_000 });
  await run("mount", ["-o", "loop", join(disks, "store.img.partial"), join(disks, "store.staging")]);
  // and a loop device attached but never mounted
  await run("losetup", ["-f", join(disks, "store.img.partial")]);
}

describe("a robot's small disks", () => {
  afterEach(async () => {
    await labDown(NAME);
  }, 60_000);

  it("parses sizes strictly", () => {
    expect(parseSize("600M")).toBe(600 * MiB);
    expect(parseSize("2G")).toBe(2048 * MiB);
    for (const bad of ["1.5G", "600", "600MB", "7M", "65G", "0G", "", "600M "])
      expect(parseSize(bad)).toBe(undefined);
  });

  it("makes a store disk holding what the root's /nix held, mounts it over the root, and unmounts it", async () => {
    mkdirSync(join(paths.root, "nix/var/nix"), { recursive: true });
    writeFileSync(join(paths.root, "nix/var/nix/marker"), "base\n");
    await mountDisks(NAME, paths, { store: 16 * MiB });
    expect(mounted()).toEqual([join(paths.root, "nix")]);
    expect(readFileSync(join(paths.root, "nix/var/nix/marker"), "utf8")).toBe("base\n");
    const df = await run("df", ["-B1", "--output=size", join(paths.root, "nix")]);
    const size = Number(df.stdout.trim().split("\n")[1]);
    expect(size).toBeGreaterThan(12 * MiB);
    expect(size).toBeLessThanOrEqual(16 * MiB);
    // A robot keeps its disk: another size is refused, the same size mounts it again.
    await expect(mountDisks(NAME, paths, { store: 32 * MiB })).rejects.toThrow(
      "robot dk-lab-disks has a 16 MiB store disk, not 32 MiB: down it first",
    );
    await unmountDisks(paths);
    expect(mounted()).toEqual([]);
    expect(await loops()).toBe("");
    await mountDisks(NAME, paths, {});
    expect(readFileSync(join(paths.root, "nix/var/nix/marker"), "utf8")).toBe("base\n");
  }, 60_000);

  it("down clears what a crashed up left: staging mount, loop devices, the half-made image", async () => {
    await crashedMake();
    expect(mounted().length).toBe(1);
    await labDown(NAME);
    expect(mounted()).toEqual([]);
    expect(await loops()).toBe("");
    expect(existsSync(paths.dir)).toBe(false);
  }, 60_000);

  it("the next up makes the disk again over what a crashed up left", async () => {
    await crashedMake();
    mkdirSync(join(paths.root, "nix/var/nix"), { recursive: true });
    await mountDisks(NAME, paths, { store: 16 * MiB });
    expect(mounted()).toEqual([join(paths.root, "nix")]);
    expect(existsSync(join(paths.dir, "disks/store.img.partial"))).toBe(false);
    expect((await loops()).split("\n").length).toBe(1);
  }, 60_000);
});

// The boot partition's check on a REAL small filesystem (a size-limited tmpfs, mounted as root and
// unmounted after), alone and in front of a REAL deployer's Activate.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeployerLab, SELF, until } from "../testing/deployer-rig.js";
import { type BootSpaceDeps, ensureBootSpace } from "./boot-space.js";
import { filesystemSpace } from "./collector.js";

const KiB = 1024;
let tmp = "";
let boot = "";
const mounted: string[] = [];

async function smallFs(name: string, size: string): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir]);
  mounted.push(dir);
  return dir;
}

/** A system as NixOS lays it out: `kernel` and `initrd` are links to files elsewhere. */
async function system(name: string, kernelBytes: number, initrdBytes: number): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(join(dir, "files"), { recursive: true });
  await writeFile(join(dir, "files", "bzImage"), Buffer.alloc(kernelBytes));
  await writeFile(join(dir, "files", "initrd"), Buffer.alloc(initrdBytes));
  await symlink(join(dir, "files", "bzImage"), join(dir, "kernel"));
  await symlink(join(dir, "files", "initrd"), join(dir, "initrd"));
  return dir;
}

function deps(bootDir: string, reserveBytes: number, lines: string[]): BootSpaceDeps {
  const log = pino({ level: "info" }, { write: (l: string) => void lines.push(l) });
  return { bootDir, reserveBytes, space: filesystemSpace, log };
}

const root = process.getuid?.() === 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "rr-boot-space-"));
  if (root) boot = await smallFs("boot", "256k");
});
afterAll(async () => {
  for (const m of mounted) execFileSync("umount", [m]);
  await rm(tmp, { recursive: true, force: true });
});

describe.runIf(root)("the boot partition's space before a boot entry", () => {
  it("refuses a kernel + initrd + reserve larger than the free space, with the numbers", async () => {
    const sys = await system("big", 160 * KiB, 80 * KiB);
    await expect(ensureBootSpace(deps(boot, 32 * KiB, []), sys)).rejects.toMatchObject({
      code: "NO_SPACE",
      message: `the boot entry needs 240 KiB (kernel 160 KiB, initrd 80 KiB) and a reserve of 32 KiB, 256 KiB free on ${boot}`,
    });
  });

  it("lets a system through that fits with its reserve", async () => {
    const sys = await system("fits", 160 * KiB, 64 * KiB);
    await expect(ensureBootSpace(deps(boot, 32 * KiB, []), sys)).resolves.toBeUndefined();
  });

  it("skips, with a log line, a boot directory that is not a filesystem of its own or does not exist", async () => {
    const sys = await system("skip", 1024 * KiB, 1024 * KiB);
    const plain = join(tmp, "plain-boot");
    await mkdir(plain);
    const lines: string[] = [];
    await ensureBootSpace(deps(plain, 0, lines), sys);
    await ensureBootSpace(deps(join(tmp, "no-boot"), 0, lines), sys);
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      `boot space not checked: ${plain} is not a separate filesystem`,
      `boot space not checked: ${join(tmp, "no-boot")} does not exist`,
    ]);
  });

  it("checks nothing for a system without a kernel and initrd", async () => {
    const dir = join(tmp, "no-kernel");
    await mkdir(dir);
    await expect(ensureBootSpace(deps(boot, 10 ** 12, []), dir)).resolves.toBeUndefined();
  });
});

describe.runIf(root)("an Activate whose kernel does not fit on /boot", () => {
  const lab = new DeployerLab();
  beforeAll(() => lab.setup());
  afterAll(() => lab.teardown());

  it("is refused with NO_SPACE before its record, the profile unchanged; TEST goes ahead", async () => {
    const big = lab.addSystem("sys-big-kernel", {
      kernel: "k".repeat(200 * KiB),
      initrd: "i".repeat(100 * KiB),
    });
    const r = await lab.rig("boot-full", {
      bootSpace: (s) => ensureBootSpace(deps(boot, 0, []), s),
    });
    await until(r.deployer, (await r.deployer.activate(lab.sys("sys-a"), "switch", SELF)).id);
    const before = await r.profile.list();
    for (const action of ["switch", "boot"] as const) {
      await expect(r.deployer.activate(big, action, SELF)).rejects.toMatchObject({
        code: "NO_SPACE",
        message: expect.stringMatching(/^the boot entry needs 300 KiB \(kernel 200 KiB, initrd 100 KiB\)/),
      });
    }
    expect(await r.profile.list()).toEqual(before);
    expect(r.deployer.latest()?.storePath).toBe(lab.sys("sys-a"));
    // TEST installs no boot entry.
    const t = await r.deployer.activate(big, "test", SELF);
    expect((await until(r.deployer, t.id)).state).toBe("succeeded");
  });
});

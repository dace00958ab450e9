// Data captured before a generation that is judged after a boot goes back when that boot fails and
// the new system may have changed it: a switch that exited 100 ran it live, --reboot rebooted right
// after the capture. A BOOT that waited for someone's reboot left the previous system writing from
// the capture on: its data stays. Real directories, real ESP entries; the switch and the reboot are
// fakes (testing/boot-rig.ts, testing/data-rig.ts).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { CountingBoot } from "../testing/boot-rig.js";
import { until } from "../testing/deployer-rig.js";
import { FakeHealth } from "../testing/fakes.js";
import { type DataRig, digest, run, states, useDataLab } from "./testing/data-rig.js";

const { lab, sys, dataRig } = useDataLab();
let cb: CountingBoot;
beforeEach(async () => {
  cb = await CountingBoot.create(lab);
  return () => cb.cleanup();
});
const NEW = "nixos-generation-2+2.conf";

/** Generation 1 runs sys-a; a switch to sys-reboot (exits 100) with --reboot, which then changes the data. */
async function rebootingSwitch(name: string) {
  const r = await dataRig(name, { boot: cb.ports });
  await run(r, sys("sys-a"));
  await cb.entry("nixos-generation-1.conf");
  const before = await digest(r.db);
  const { id } = await r.deployer.activate(sys("sys-reboot"), "switch", {
    reboot: true,
    confirmTimeoutSeconds: 2,
  });
  await cb.entry(NEW);
  const parked = await until(r.deployer, id, "awaiting_reboot");
  expect(parked.snapshots).toMatchObject([{ path: r.db, state: "captured" }]);
  // The new system's software ran until the reboot and moved the data on.
  await writeFile(join(r.db, "schema"), "2\n");
  await r.deployer.close();
  return { r, id, before };
}

const bootAgain = (r: DataRig, name: string, to: string, running: string, health?: FakeHealth) =>
  cb.boot(r, name, NEW, to, running, {
    data: [{ path: r.db, units: ["db.service"] }],
    ...(health ? { health } : {}),
  });

describe("data of a deployment judged after a boot", () => {
  it("the loader went back after its tries: the data goes back first, then ROLLED_BACK saying so", async () => {
    const { r, id, before } = await rebootingSwitch("bd-fell-back");
    const after = await bootAgain(r, "bd-fell-back", "nixos-generation-2+0-2.conf", sys("sys-a"));
    const done = await until(after.deployer, id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "boot" });
    expect(done.message).toBe(
      `rolled back to generation 1 after: generation 2 did not boot (2 tries); data restored: ${r.db}`,
    );
    expect(await digest(r.db)).toEqual(before);
    expect(states(after, id)).toEqual(["restoring", "rolling_back", "rolled_back"]);
    // The previous system's writer was stopped for the restore and runs again.
    expect(after.units.calls).toEqual(["stop db.service", "start db.service"]);
    expect(cb.power.reboots).toBe(1);
    await after.deployer.close();
  });

  it("unhealthy after the reboot: the data goes back before the reboot into the previous generation", async () => {
    const { r, id, before } = await rebootingSwitch("bd-unhealthy");
    const sick = new FakeHealth([false], [false]);
    const after = await bootAgain(r, "bd-unhealthy", "nixos-generation-2+1-1.conf", sys("sys-reboot"), sick);
    const done = await until(after.deployer, id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "boot", booted: true });
    expect(done.message).toMatch(new RegExp(`; data restored: ${r.db}; rebooting into generation 1$`));
    expect(await digest(r.db)).toEqual(before);
    expect(states(after, id).slice(-3)).toEqual(["restoring", "rolling_back", "rolled_back"]);
    expect(cb.power.reboots).toBe(2);
    await after.deployer.close();
  });

  it("a BOOT that waited for someone's reboot, and the loader went back: the data the previous system wrote since stays", async () => {
    const r = await dataRig("bd-boot-waited", { boot: cb.ports });
    await run(r, sys("sys-a"));
    await cb.entry("nixos-generation-1.conf");
    const { id } = await r.deployer.activate(sys("sys-b"), "boot", { selfConfirm: true });
    const parked = await until(r.deployer, id, "awaiting_reboot");
    expect(parked.snapshots).toMatchObject([{ path: r.db, state: "captured" }]);
    await cb.entry(NEW);
    // The previous system runs on until the reboot and writes.
    await writeFile(join(r.db, "rows"), "a\nb\nc\n");
    const written = await digest(r.db);
    await r.deployer.close();
    const after = await bootAgain(r, "bd-boot-waited", "nixos-generation-2+0-2.conf", sys("sys-a"));
    const done = await until(after.deployer, id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "boot" });
    expect(done.message).toBe(
      "rolled back to generation 1 after: generation 2 did not boot (2 tries); data not restored: the previous system wrote it on from the capture until the reboot",
    );
    expect(await digest(r.db)).toEqual(written);
    expect(states(after, id)).toEqual(["rolling_back", "rolled_back"]);
    expect(after.units.calls).not.toContain("stop db.service"); // never stopped for a restore
    await after.deployer.close();
  });
});

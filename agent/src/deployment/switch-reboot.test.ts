// A SWITCH whose switch-to-configuration exits 100 (reboot required), on the shared counting rig
// (testing/boot-rig.ts: real ESP entries, verdict files and systemd-bless-boot stand-in, a real
// nix-env profile; the reboot is a recording fake). `sys-reboot`'s fake switch exits 100 and
// changes nothing that runs. Each "reboot" closes the agent and starts a new one with a new boot id.
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { endsStream } from "../server/convert.js";
import { CountingBoot } from "../testing/boot-rig.js";
import { DeployerLab, type Rig, until } from "../testing/deployer-rig.js";
import { FakeHealth } from "../testing/fakes.js";
import type { DeployRequest } from "./request.js";

const lab = new DeployerLab();
let cb: CountingBoot;
let n = 0;
beforeAll(() => lab.setup(), 60_000);
afterAll(() => lab.teardown());
beforeEach(async () => {
  cb = await CountingBoot.create(lab);
  return () => cb.cleanup();
});
const sys = (s: string) => lab.sys(s);
const NEW = "nixos-generation-2+2.conf";
const TRIED = "nixos-generation-2+1-1.conf";

/** Generation 1 runs sys-a; a switch to sys-reboot (generation 2) exits 100. */
async function switchNeedingReboot(request: DeployRequest, counting = true) {
  const name = `sr-${n++}`;
  const first = await lab.rig(name, counting ? { boot: cb.ports } : {});
  await until(
    first.deployer,
    (await first.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id,
  );
  await cb.entry("nixos-generation-1.conf");
  const d = await first.deployer.activate(sys("sys-reboot"), "switch", {
    confirmTimeoutSeconds: 2,
    ...request,
  });
  // What switch-to-configuration switch writes on a counting robot (the fake switcher writes nothing).
  await cb.entry(NEW);
  return { id: d.id, name, first };
}

async function rebootingSwitch(): Promise<{ id: string; name: string; first: Rig }> {
  const s = await switchNeedingReboot({ reboot: true });
  const parked = await until(s.first.deployer, s.id, "awaiting_reboot");
  expect(parked).toMatchObject({ generation: 2, exitCode: 100, bootId: "boot-1" });
  expect(parked.message).toMatch(/exited 100: reboot required .*; rebooting to judge it after the boot$/);
  expect(endsStream(parked)).toBe(false);
  expect(cb.power.reboots).toBe(1);
  await s.first.deployer.close();
  return s;
}

/** The controller confirms; systemd-bless-boot renames the entry on `good`; the deployment SUCCEEDED. */
async function confirmedAndBlessed(after: Rig, id: string): Promise<void> {
  const blesser = cb.blessWhenGood(TRIED, "nixos-generation-2.conf");
  await after.deployer.confirm(id);
  const done = await until(after.deployer, id);
  await blesser;
  expect(done).toMatchObject({ state: "succeeded", booted: true });
  expect(done.message).toMatch(/boot entry nixos-generation-2\.conf blessed$/);
}

describe("deploy --action switch --reboot, activation exits 100", () => {
  it("healthy and confirmed after the reboot: judging, good, the entry blessed, SUCCEEDED", async () => {
    const { id, name, first } = await rebootingSwitch();
    const after = await cb.boot(first, name, NEW, TRIED, sys("sys-reboot"));
    await until(after.deployer, id, "awaiting_confirmation");
    expect(await cb.runFiles()).toEqual(["judging"]);
    await confirmedAndBlessed(after, id);
    expect(await cb.read(join(cb.runDir, "verdict"))).toBe("good");
    expect(await cb.entryFiles()).toEqual(["nixos-generation-1.conf", "nixos-generation-2.conf"]);
    expect((await after.profile.list()).map((g) => [g.number, g.current])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(cb.power.reboots).toBe(1);
    expect(await cb.read(cb.blessLog)).toBe("");
    await after.deployer.close();
  });

  it("unhealthy after the reboot: verdict bad, boot default back, entry and generation gone, reboot", async () => {
    const { id, name, first } = await rebootingSwitch();
    const sick = new FakeHealth([false], [false]);
    const after = await cb.boot(first, name, NEW, TRIED, sys("sys-reboot"), { health: sick });
    const done = await until(after.deployer, id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "boot", booted: true });
    expect(done.message).toMatch(
      /^rolled back to generation 1 after: unhealthy: .+; rebooting into generation 1$/,
    );
    expect(await cb.read(join(cb.runDir, "verdict"))).toBe("bad");
    expect(await cb.read(cb.blessLog)).toBe("bad\n");
    expect(after.switcher.started.at(-1)).toMatchObject({ systemPath: sys("sys-a"), action: "boot" });
    expect((await after.profile.list()).map((g) => [g.number, g.current])).toEqual([[1, true]]);
    expect(await cb.entryFiles()).toEqual(["nixos-generation-1.conf"]);
    expect(cb.power.reboots).toBe(2);
    await after.deployer.close();
    // A reset before that reboot took effect: the next agent in the same boot reboots again.
    const again = await lab.rig(name, { system: first.system, boot: cb.ports });
    expect(cb.power.reboots).toBe(3);
    await again.deployer.close();
  });

  it("the loader went back after its tries: ROLLED_BACK 'generation 2 did not boot (2 tries)', no reboot", async () => {
    const { id, name, first } = await rebootingSwitch();
    const after = await cb.boot(first, name, NEW, "nixos-generation-2+0-2.conf", sys("sys-a"));
    const done = await until(after.deployer, id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "boot" });
    expect(done.message).toBe("rolled back to generation 1 after: generation 2 did not boot (2 tries)");
    expect((await after.profile.list()).map((g) => [g.number, g.current])).toEqual([[1, true]]);
    expect(await cb.entryFiles()).toEqual(["nixos-generation-1.conf"]);
    expect(cb.power.reboots).toBe(1);
    await after.deployer.close();
  });

  it("the agent killed between the record and the reboot: the next agent in the same boot reboots again", async () => {
    const { id, name, first } = await rebootingSwitch();
    const same = await lab.rig(name, { system: first.system, boot: cb.ports });
    await new Promise((r) => setTimeout(r, 100));
    expect(same.deployer.latest()).toMatchObject({ id, state: "awaiting_reboot" });
    expect(cb.power.reboots).toBe(2);
    await same.deployer.close();
  });

  it("exit 0 with --reboot: no reboot, judged live, its entry blessed", async () => {
    const name = `sr-${n++}`;
    const rig = await lab.rig(name, { boot: cb.ports });
    await cb.entry("nixos-generation-1+2.conf");
    const done = await until(
      rig.deployer,
      (await rig.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true, reboot: true })).id,
    );
    expect(done).toMatchObject({ state: "succeeded", booted: false });
    expect(done.message).toMatch(/blessed \(judged live\)$/);
    expect(cb.power.reboots).toBe(0);
    await rig.deployer.close();
  });
});

describe("a switch that exits 100 without --reboot", () => {
  it("REBOOT_REQUIRED; on a counting robot the operator's reboot is judged (admission waits), confirmed, blessed", async () => {
    const { id, name, first } = await switchNeedingReboot({});
    const ended = await until(first.deployer, id);
    expect(ended).toMatchObject({ state: "reboot_required", exitCode: 100, bootId: "boot-1" });
    expect(endsStream(ended)).toBe(true);
    expect(first.deployer.active()).toBeUndefined();
    await first.deployer.close();
    // An agent restart in the same boot leaves it alone.
    const same = await lab.rig(name, { system: first.system, boot: cb.ports });
    expect(same.deployer.active()).toBeUndefined();
    await same.deployer.close();
    // The operator reboots; the boot's activation has not pointed /run/current-system anywhere yet.
    const after = await cb.boot(first, name, NEW, TRIED, undefined);
    expect(after.deployer.active()).toMatchObject({ id, state: "reboot_required" });
    await expect(after.deployer.activate(sys("sys-a"), "switch")).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      message: expect.stringMatching(/still running, state reboot_required/),
    });
    after.system.running = sys("sys-reboot");
    await until(after.deployer, id, "awaiting_confirmation");
    await confirmedAndBlessed(after, id);
    expect(cb.power.reboots).toBe(0);
    await after.deployer.close();
  });

  it("the loader went back after the operator's reboot: ROLLED_BACK with the tries", async () => {
    const { id, name, first } = await switchNeedingReboot({});
    await until(first.deployer, id, "reboot_required");
    await first.deployer.close();
    const after = await cb.boot(first, name, NEW, "nixos-generation-2+0-2.conf", sys("sys-a"));
    const done = await until(after.deployer, id, "rolled_back");
    expect(done.message).toMatch(/after: generation 2 did not boot \(2 tries\)$/);
    expect(await cb.entryFiles()).toEqual(["nixos-generation-1.conf"]);
    await after.deployer.close();
  });

  it("a robot that does not count boots: the next boot is not judged, the record stays REBOOT_REQUIRED", async () => {
    const { id, name, first } = await switchNeedingReboot({}, false);
    await until(first.deployer, id, "reboot_required");
    await first.deployer.close();
    first.system.boot = "boot-2";
    first.system.running = sys("sys-reboot");
    const after = await lab.rig(name, { system: first.system });
    await new Promise((r) => setTimeout(r, 100));
    expect(after.deployer.latest()).toMatchObject({ id, state: "reboot_required" });
    expect(after.deployer.active()).toBeUndefined();
    expect(after.health.evaluations).toBe(0);
    await after.deployer.close();
  });
});

describe("an entry its installer wrote without a counter (nixos-25.05 counts nothing)", () => {
  it.each([
    ["switch", "sys-reboot", { reboot: true }, "awaiting_reboot"],
    ["switch", "sys-reboot", {}, "reboot_required"],
    ["boot", "sys-b", { reboot: true }, "awaiting_reboot"],
  ] as const)(
    "%s of %s %j: the agent gives it its tries before %s",
    async (action, system, request, state) => {
      const name = `sr-${n++}`;
      const first = await lab.rig(name, { boot: cb.ports });
      await until(
        first.deployer,
        (await first.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id,
      );
      await cb.entry("nixos-generation-1.conf");
      await cb.entry("nixos-generation-2.conf");
      const d = await first.deployer.activate(sys(system), action, { confirmTimeoutSeconds: 2, ...request });
      await until(first.deployer, d.id, state);
      expect(await cb.entryFiles()).toEqual(["nixos-generation-1.conf", "nixos-generation-2+3.conf"]);
      await first.deployer.close();
    },
  );
});

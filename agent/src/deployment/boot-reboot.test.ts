// deploy --action boot --reboot with boot counting, on the shared counting rig (testing/boot-rig.ts:
// real ESP entries, verdict files and systemd-bless-boot stand-in, a recording reboot). Each
// "reboot" closes the agent and starts a new one with a new boot id, as a reset would.
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { endsStream } from "../server/convert.js";
import { CountingBoot } from "../testing/boot-rig.js";
import { DeployerLab, until } from "../testing/deployer-rig.js";
import { FakeHealth } from "../testing/fakes.js";

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

/** Generation 1 runs sys-a; a reboot deployment of sys-b (generation 2) waits for its reboot. */
async function rebootDeployment(health = new FakeHealth()) {
  const name = `bc-${n++}`;
  const first = await lab.rig(name, { health, boot: cb.ports });
  await until(
    first.deployer,
    (await first.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id,
  );
  await cb.entry("nixos-generation-1.conf");
  const d = await first.deployer.activate(sys("sys-b"), "boot", { reboot: true, confirmTimeoutSeconds: 2 });
  const parked = await until(first.deployer, d.id, "awaiting_reboot");
  expect(parked).toMatchObject({ generation: 2, settings: { reboot: true } });
  // Not the end of the controller's stream: it follows the deployment across the reboot.
  expect(endsStream(parked)).toBe(false);
  expect(endsStream({ ...parked, settings: { ...parked.settings, reboot: undefined } })).toBe(true);
  // What switch-to-configuration boot writes on a counting robot (the fake switcher writes nothing).
  await cb.entry("nixos-generation-2+2.conf");
  expect(cb.power.reboots).toBe(1);
  await first.deployer.close();
  return { id: d.id, name, first };
}

const boot = (...a: Parameters<CountingBoot["boot"]>) => cb.boot(...a);

describe("deploy --action boot --reboot with boot counting", () => {
  it("healthy and confirmed after the reboot: judging, good, the entry blessed, SUCCEEDED", async () => {
    const { id, name, first } = await rebootDeployment();
    const after = await boot(
      first,
      name,
      "nixos-generation-2+2.conf",
      "nixos-generation-2+1-1.conf",
      sys("sys-b"),
    );
    await until(after.deployer, id, "awaiting_confirmation");
    expect(await cb.runFiles()).toEqual(["judging"]);
    // systemd-bless-boot: boot-complete.target is reached once the verdict is good.
    const blesser = cb.blessWhenGood("nixos-generation-2+1-1.conf", "nixos-generation-2.conf");
    await after.deployer.confirm(id);
    const done = await until(after.deployer, id);
    await blesser;
    expect(done.state).toBe("succeeded");
    expect(done.message).toMatch(/boot entry nixos-generation-2\.conf blessed$/);
    expect(await cb.entryFiles()).toEqual(["nixos-generation-1.conf", "nixos-generation-2.conf"]);
    expect(cb.power.reboots).toBe(1);
    expect(await cb.read(cb.blessLog)).toBe("");
    await after.deployer.close();
  });

  it("the loader went back after its tries: ROLLED_BACK 'did not boot (2 tries)', entry and generation gone, no reboot", async () => {
    const { id, name, first } = await rebootDeployment();
    const after = await boot(
      first,
      name,
      "nixos-generation-2+2.conf",
      "nixos-generation-2+0-2.conf",
      sys("sys-a"),
    );
    const done = await until(after.deployer, id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "boot" });
    expect(done.message).toMatch(
      /^rolled back to generation 1 after: generation 2 did not boot \(2 tries\)$/,
    );
    expect(after.switcher.started.at(-1)).toMatchObject({ systemPath: sys("sys-a"), action: "boot" });
    expect((await after.profile.list()).map((g) => [g.number, g.current])).toEqual([[1, true]]);
    expect(await cb.entryFiles()).toEqual(["nixos-generation-1.conf"]);
    expect(cb.power.reboots).toBe(1);
    expect(await cb.read(cb.blessLog)).toBe("");
    await after.deployer.close();
  });

  it("unhealthy after the reboot: verdict bad, marked bad, boot default back, entry gone, reboot; reason names the check", async () => {
    const { id, name, first } = await rebootDeployment();
    const sick = new FakeHealth([false], [false]);
    const after = await boot(
      first,
      name,
      "nixos-generation-2+2.conf",
      "nixos-generation-2+1-1.conf",
      sys("sys-b"),
      { health: sick },
    );
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
    first.system.running = sys("sys-a");
    const onPrevious = await lab.rig(name, { system: first.system, boot: cb.ports });
    expect(cb.power.reboots).toBe(3);
    await onPrevious.deployer.close();
  });

  it("a reset in the same boot before the reboot happened: the new agent reboots again", async () => {
    const { id, name, first } = await rebootDeployment();
    const same = await lab.rig(name, { system: first.system, boot: cb.ports });
    await new Promise((r) => setTimeout(r, 100));
    expect(same.deployer.latest()).toMatchObject({ id, state: "awaiting_reboot" });
    expect(cb.power.reboots).toBe(2);
    await same.deployer.close();
  });

  it("a reset while awaiting confirmation, the loader then went back: ROLLED_BACK, not stuck waiting", async () => {
    const { id, name, first } = await rebootDeployment();
    const after = await boot(
      first,
      name,
      "nixos-generation-2+2.conf",
      "nixos-generation-2+1-1.conf",
      sys("sys-b"),
    );
    await until(after.deployer, id, "awaiting_confirmation");
    await after.deployer.close(); // the power cut
    const back = await boot(
      first,
      name,
      "nixos-generation-2+1-1.conf",
      "nixos-generation-2+0-2.conf",
      sys("sys-a"),
    );
    const done = await until(back.deployer, id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "boot" });
    expect(done.message).toMatch(/after: generation 2 did not boot \(2 tries\)$/);
    expect(await cb.entryFiles()).toEqual(["nixos-generation-1.conf"]);
    expect(await cb.read(cb.blessLog)).toBe("");
    await back.deployer.close();
  });

  it("not confirmed after the reboot: the magic rollback goes back to generation 1 across a reboot", async () => {
    const { id, name, first } = await rebootDeployment();
    const after = await boot(
      first,
      name,
      "nixos-generation-2+2.conf",
      "nixos-generation-2+1-1.conf",
      sys("sys-b"),
    );
    const done = await until(after.deployer, id, undefined, 8_000);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "not_confirmed" });
    expect(done.message).toMatch(/after: not confirmed within 2 s; rebooting into generation 1$/);
    expect(await cb.read(cb.blessLog)).toBe("bad\n");
    expect(cb.power.reboots).toBe(2);
    await after.deployer.close();
  }, 15_000);

  it("BOOT without --reboot on a counting robot: no reboot by the agent; after a human's reboot it is judged and blessed", async () => {
    const name = `bc-${n++}`;
    const first = await lab.rig(name, { boot: cb.ports });
    await until(
      first.deployer,
      (await first.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id,
    );
    const d = await first.deployer.activate(sys("sys-b"), "boot", { selfConfirm: true });
    await until(first.deployer, d.id, "awaiting_reboot");
    await cb.entry("nixos-generation-2+2.conf");
    await first.deployer.close();
    expect(cb.power.reboots).toBe(0);
    const blesser = cb.blessWhenGood("nixos-generation-2+1-1.conf", "nixos-generation-2.conf");
    const after = await boot(
      first,
      name,
      "nixos-generation-2+2.conf",
      "nixos-generation-2+1-1.conf",
      sys("sys-b"),
    );
    const done = await until(after.deployer, d.id);
    await blesser;
    expect(done.state).toBe("succeeded");
    expect(await cb.runFiles()).toEqual(["judging", "verdict"]);
    expect(cb.power.reboots).toBe(0);
    await after.deployer.close();
  });

  it("SWITCH on a counting robot: its new entry is blessed once kept (a later reboot must not count it down)", async () => {
    const name = `bc-${n++}`;
    const rig = await lab.rig(name, { boot: cb.ports });
    await until(
      rig.deployer,
      (await rig.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id,
    );
    await cb.entry("nixos-generation-1.conf");
    await cb.entry("nixos-generation-2+2.conf");
    const done = await until(
      rig.deployer,
      (await rig.deployer.activate(sys("sys-b"), "switch", { selfConfirm: true })).id,
    );
    expect(done.state).toBe("succeeded");
    expect(done.message).toMatch(/boot entry nixos-generation-2\.conf blessed \(judged live\)$/);
    expect(await cb.entryFiles()).toEqual(["nixos-generation-1.conf", "nixos-generation-2.conf"]);
    expect(cb.power.reboots).toBe(0);
    await rig.deployer.close();
  });
});

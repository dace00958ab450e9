// Health, confirmation and automatic/magic rollback in the deployer (real nix-env, fake switch/health).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileHealthConfig } from "../health/index.js";
import { DeployerLab, until } from "../testing/deployer-rig.js";
import { FakeHealth } from "../testing/fakes.js";
import type { DeploymentRecord } from "./record.js";

const lab = new DeployerLab();
beforeAll(() => lab.setup());
afterAll(() => lab.teardown());
const sys = (n: string) => lab.sys(n);

const SHORT = { confirmTimeoutSeconds: 0.3 };

describe("confirmation and rollback", () => {
  it("keeps a healthy deployment that is confirmed in time", async () => {
    const r = await lab.rig("confirmed");
    const d = await r.deployer.activate(sys("sys-a"), "switch", { confirmTimeoutSeconds: 5 });
    const waiting = await until(r.deployer, d.id, "awaiting_confirmation");
    expect(waiting.confirmDeadline).toBeGreaterThan(Date.now());
    const kept = await r.deployer.confirm(d.id);
    expect(kept.state).toBe("succeeded");
    // Confirming again is harmless.
    expect((await r.deployer.confirm(d.id)).state).toBe("succeeded");
    await expect(r.deployer.confirm("d-other")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("rolls back by itself when no Confirm comes (magic rollback), to the recorded previous generation", async () => {
    const r = await lab.rig("magic");
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id);
    const d = await r.deployer.activate(sys("sys-b"), "switch", SHORT);
    const done = await until(r.deployer, d.id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "not_confirmed" });
    expect(done.message).toMatch(/rolled back to generation 1/);
    expect(r.system.running).toBe(sys("sys-a"));
    expect((await r.profile.list()).map((g) => g.number)).toEqual([1]);
    expect(done.history.map((h) => h.state)).toContain("not_confirmed");
  });

  it("keeps an unconfirmed deployment when magic rollback is off", async () => {
    const r = await lab.rig("no-magic");
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id);
    const d = await r.deployer.activate(sys("sys-b"), "switch", { ...SHORT, magicRollback: false });
    const done = await until(r.deployer, d.id);
    expect(done.state).toBe("succeeded");
    expect(done.message).toMatch(/magic rollback is off/);
    expect(r.system.running).toBe(sys("sys-b"));
  });

  it("rolls back at once when health fails, naming the check", async () => {
    const r = await lab.rig("unhealthy", { health: new FakeHealth([true, false]) });
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id);
    const d = await r.deployer.activate(sys("sys-b"), "switch", { confirmTimeoutSeconds: 30 });
    const done = await until(r.deployer, d.id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "unhealthy" });
    expect(done.history.find((h) => h.state === "unhealthy")?.message).toMatch(/talker\.service/);
    expect(r.system.running).toBe(sys("sys-a"));
  });

  it("rolls back when health fails while waiting for Confirm", async () => {
    const r = await lab.rig("unhealthy-later", { health: new FakeHealth([true], [true, false]) });
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id);
    const d = await r.deployer.activate(sys("sys-b"), "switch", { confirmTimeoutSeconds: 30 });
    const done = await until(r.deployer, d.id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "unhealthy" });
    expect(r.health.snapshots).toBeGreaterThanOrEqual(2);
  });

  it("leaves an unhealthy deployment in place when auto rollback is off", async () => {
    const r = await lab.rig("no-auto", { health: new FakeHealth([true, false]) });
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id);
    const d = await r.deployer.activate(sys("sys-b"), "switch", { autoRollback: false });
    const done = await until(r.deployer, d.id);
    expect(done.state).toBe("failed");
    expect(r.system.running).toBe(sys("sys-b"));
  });

  it("treats exit 4 as healthy when every failed unit is ignored", async () => {
    const health = new FakeHealth();
    health.failed = ["getty@tty1.service"];
    const healthSpec = compileHealthConfig({
      settleSeconds: 0,
      stableSeconds: 1,
      timeoutSeconds: 2,
      systemd: { ignoreFailed: ["getty@*"] },
    });
    const r = await lab.rig("ignored", { health, healthSpec });
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id);
    const d = await r.deployer.activate(sys("sys-broken"), "switch", { selfConfirm: true });
    const done = await until(r.deployer, d.id);
    expect(done.state).toBe("succeeded");
    expect(done.history.map((h) => h.state)).toContain("units_failed");
  });

  it("counts exit 4 as unhealthy when a failed unit is not ignored", async () => {
    const health = new FakeHealth();
    health.failed = ["talker.service"];
    const r = await lab.rig("not-ignored", { health });
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id);
    const done = await until(r.deployer, (await r.deployer.activate(sys("sys-broken"), "switch", SHORT)).id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "unhealthy" });
    expect(done.message).toMatch(/talker\.service/);
  });

  it("refuses per-deployment health changes the config does not allow, changing nothing", async () => {
    const r = await lab.rig("bad-health");
    await expect(
      r.deployer.activate(sys("sys-a"), "switch", { health: { exec: [{ name: "x", argv: ["true"] }] } }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(r.deployer.activate(sys("sys-a"), "switch", { health: { bogus: 1 } })).rejects.toMatchObject(
      {
        code: "INVALID_ARGUMENT",
        message: expect.stringMatching(/bogus/),
      },
    );
    expect(await r.profile.list()).toEqual([]);
    expect(r.deployer.latest()).toBeUndefined();
  });

  it("refuses Confirm while health is still being judged", async () => {
    const slow = new FakeHealth();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((res) => {
      release = res;
    });
    const evaluate = slow.evaluate.bind(slow);
    slow.evaluate = async (...args) => {
      await gate;
      return evaluate(...args);
    };
    const r = await lab.rig("early-confirm", { health: slow });
    const d = await r.deployer.activate(sys("sys-a"), "switch", { confirmTimeoutSeconds: 5 });
    await until(r.deployer, d.id, "checking_health");
    await expect(r.deployer.confirm(d.id)).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
    release();
    await until(r.deployer, d.id, "awaiting_confirmation");
    await r.deployer.confirm(d.id);
  });
});

describe("crash safety", () => {
  it("an agent restarted while waiting for Confirm keeps the ORIGINAL deadline", async () => {
    const first = await lab.rig("restart-wait");
    await until(
      first.deployer,
      (await first.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id,
    );
    const d = await first.deployer.activate(sys("sys-b"), "switch", { confirmTimeoutSeconds: 1 });
    const waiting = await until(first.deployer, d.id, "awaiting_confirmation");
    await first.deployer.close(); // the agent dies; the record stays
    const second = await lab.rig("restart-wait", { system: first.system });
    const done = await until(second.deployer, d.id, undefined, 5_000);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "not_confirmed" });
    expect(done.confirmDeadline).toBe(waiting.confirmDeadline);
    // Not before the original deadline, and not a fresh 1 s window after the restart either.
    const notConfirmedAt = done.history.find((h) => h.state === "not_confirmed")?.at ?? 0;
    expect(notConfirmedAt).toBeGreaterThanOrEqual(waiting.confirmDeadline ?? Number.POSITIVE_INFINITY);
    expect(notConfirmedAt).toBeLessThan((waiting.confirmDeadline ?? 0) + 800);
  });

  it("an agent that finds the deadline passed rolls back at once", async () => {
    const first = await lab.rig("restart-late");
    await until(
      first.deployer,
      (await first.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id,
    );
    const d = await first.deployer.activate(sys("sys-b"), "switch", { confirmTimeoutSeconds: 30 });
    const waiting = await until(first.deployer, d.id, "awaiting_confirmation");
    await first.deployer.close();
    const stale: DeploymentRecord = { ...waiting, confirmDeadline: Date.now() - 1_000 };
    await first.records.save(stale);
    const second = await lab.rig("restart-late", { system: first.system });
    const done = await until(second.deployer, d.id, undefined, 3_000);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "not_confirmed" });
  });

  it("BOOT: waits for the reboot, then judges the booted generation and rolls back the boot default", async () => {
    const health = new FakeHealth([true, false]);
    const first = await lab.rig("boot", { health });
    await until(
      first.deployer,
      (await first.deployer.activate(sys("sys-a"), "switch", { selfConfirm: true })).id,
    );
    const d = await first.deployer.activate(sys("sys-b"), "boot", { selfConfirm: true });
    const parked = await until(first.deployer, d.id, "awaiting_reboot");
    expect(parked.generation).toBe(2);
    expect(first.system.running).toBe(sys("sys-a"));
    // A new agent in the SAME boot leaves it waiting: parked, not even looking at what runs.
    await first.deployer.close();
    const asked = first.system.runningAsked;
    const same = await lab.rig("boot", { system: first.system, health });
    await new Promise((res) => setTimeout(res, 50));
    expect(same.deployer.latest()?.state).toBe("awaiting_reboot");
    await same.deployer.close();
    expect(first.system.runningAsked).toBe(asked);
    // The robot reboots into the new boot default, which turns out unhealthy.
    first.system.boot = "boot-2";
    first.system.running = sys("sys-b");
    const after = await lab.rig("boot", { system: first.system, health });
    const done = await until(after.deployer, d.id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "boot", booted: true });
    expect(after.switcher.started.at(-1)).toMatchObject({ systemPath: sys("sys-a"), action: "switch" });
    expect((await after.profile.list()).map((g) => [g.number, g.current])).toEqual([[1, true]]);
  });
});

import { readdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentError } from "../errors.js";
import { DeployerLab, type Rig, SELF, until } from "../testing/deployer-rig.js";
import { AdmissionGate } from "./admission.js";
import type { DeploymentRecord } from "./record.js";
import { type DeploymentState, TRANSITIONS } from "./states.js";

const lab = new DeployerLab();
beforeAll(() => lab.setup());
afterAll(() => lab.teardown());
const sys = (n: string) => lab.sys(n);

const running = { id: "d-run", kind: "activate", storePath: "/nix/store/x-sys", state: "activating" };

describe("AdmissionGate", () => {
  it("lets one claim in and refuses the next at once, naming the holder, until it is released", () => {
    let active: DeploymentRecord | undefined;
    const gate = new AdmissionGate(() => active);
    const first = gate.enter({ id: "d-1", kind: "activate", target: "/nix/store/a-sys" });
    expect(() => gate.enter({ id: "d-2", kind: "rollback", target: "generation 1" })).toThrow(
      /deployment d-1 \(activate of \/nix\/store\/a-sys\) is being started/,
    );
    // The record is persisted before release: from then on the running deployment refuses.
    active = running as DeploymentRecord;
    first.release();
    expect(() => gate.enter({ id: "d-3", kind: "activate", target: "/nix/store/b-sys" })).toThrow(
      /deployment d-run .* is still running, state activating/,
    );
    active = undefined;
    const second = gate.enter({ id: "d-4", kind: "activate", target: "/nix/store/b-sys" });
    // A late second release of the first admission must not free the gate held by another.
    first.release();
    expect(() => gate.enter({ id: "d-5", kind: "activate", target: "t" })).toThrow(/d-4/);
    second.release();
    expect(gate.enter({ id: "d-6", kind: "activate", target: "t" }).id).toBe("d-6");
  });

  it("refuses with FAILED_PRECONDITION and a bounded message", () => {
    const gate = new AdmissionGate(() => undefined);
    gate.enter({ id: "d-1", kind: "activate", target: `/nix/store/${"x".repeat(5000)}` });
    let err: unknown;
    try {
      gate.enter({ id: "d-2", kind: "activate", target: "t" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({ code: "FAILED_PRECONDITION" });
    expect((err as Error).message.length).toBeLessThan(300);
  });
});

/** A generation of the rig's profile other than the current one (a valid rollback target). */
async function otherGeneration(r: Rig): Promise<number> {
  const other = (await r.profile.list()).find((g) => !g.current);
  if (other === undefined) throw new Error("the rig needs two generations");
  return other.number;
}

/** Every consecutive pair of states the listeners saw is a transition of the table. */
function expectLegalPath(states: readonly DeploymentState[]): void {
  const path = states.filter((s, i) => s !== states[i - 1]);
  expect(path[0]).toBe("pending");
  for (let i = 1; i < path.length; i++) {
    const from = path[i - 1] as DeploymentState;
    expect(Object.values(TRANSITIONS[from]), `${from} -> ${path[i]}`).toContain(path[i]);
  }
}

async function twoGenerations(name: string): Promise<Rig> {
  const r = await lab.rig(name);
  await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
  await until(r.deployer, (await r.deployer.activate(sys("sys-b"), "switch", SELF)).id);
  return r;
}

describe("admission of simultaneous deployments (real nix-env profile, fake switch)", () => {
  it("admits exactly one of many simultaneous Activate and Rollback calls, every round", async () => {
    const r = await twoGenerations("race");
    const winners = new Set<string>();
    for (let round = 0; round < 20; round++) {
      const target = await otherGeneration(r);
      const from = r.seen.length;
      const calls = Array.from({ length: 8 }, (_, k) =>
        // Rounds alternate which kind is called first, so each kind wins some rounds.
        (k + round) % 2 === 0
          ? r.deployer.activate(sys(k % 4 === 0 ? "sys-a" : "sys-b"), "switch", SELF)
          : r.deployer.rollback(target),
      );
      const results = await Promise.allSettled(calls);
      const admitted = results.flatMap((x) => (x.status === "fulfilled" ? [x.value] : []));
      expect(admitted, `round ${round}`).toHaveLength(1);
      const id = (admitted[0] as DeploymentRecord).id;
      winners.add((admitted[0] as DeploymentRecord).kind);
      for (const x of results) {
        if (x.status === "rejected") {
          expect(x.reason).toBeInstanceOf(AgentError);
          expect(x.reason).toMatchObject({ code: "FAILED_PRECONDITION" });
          expect((x.reason as Error).message).toContain(id);
        }
      }
      const done = await until(r.deployer, id);
      expect(done.state).toBe("succeeded");
      const seen = r.seen.slice(from);
      expect(new Set(seen.map((x) => x.id))).toEqual(new Set([id]));
      expectLegalPath(seen.map((x) => x.state));
      // The file holds exactly the final record, and no temp file is left behind.
      expect(await r.records.load()).toEqual(JSON.parse(JSON.stringify(done)));
      expect((await readdir(r.stateDir)).sort()).toEqual(["deployment.json", "lineage.json"]);
    }
    expect([...winners].sort()).toEqual(["activate", "rollback"]);
  }, 60_000);

  it("refuses Activate and Rollback while Confirm calls for the waiting deployment race them", async () => {
    const r = await twoGenerations("race-confirm");
    for (let round = 0; round < 5; round++) {
      const target = await otherGeneration(r);
      const d = await r.deployer.activate(sys(round % 2 === 0 ? "sys-a" : "sys-b"), "switch", {
        confirmTimeoutSeconds: 30,
      });
      await until(r.deployer, d.id, "awaiting_confirmation");
      const from = r.seen.length;
      const confirms = Array.from({ length: 4 }, () => r.deployer.confirm(d.id));
      const others = Array.from({ length: 6 }, (_, k) =>
        k % 2 === 0 ? r.deployer.activate(sys("sys-a"), "switch", SELF) : r.deployer.rollback(target),
      );
      const [confirmed, refused] = await Promise.all([
        Promise.allSettled(confirms),
        Promise.allSettled(others),
      ]);
      for (const c of confirmed) expect(c).toMatchObject({ status: "fulfilled", value: { id: d.id } });
      for (const o of refused) {
        expect(o.status).toBe("rejected");
        expect((o as PromiseRejectedResult).reason).toMatchObject({ code: "FAILED_PRECONDITION" });
        expect(((o as PromiseRejectedResult).reason as Error).message).toContain(d.id);
      }
      const done = await until(r.deployer, d.id);
      expect(done.state).toBe("succeeded");
      // Confirmed once, by the one driver.
      expect(r.seen.slice(from).filter((x) => x.state === "succeeded")).toHaveLength(1);
      expect(new Set(r.seen.slice(from).map((x) => x.id))).toEqual(new Set([d.id]));
    }
  }, 60_000);

  it("frees admission when an admitted request fails its checks", async () => {
    const r = await twoGenerations("race-release");
    r.system.lockHeld = true;
    await expect(r.deployer.activate(sys("sys-a"), "switch", SELF)).rejects.toThrow(
      /switch-to-configuration/,
    );
    r.system.lockHeld = false;
    await expect(r.deployer.rollback(99)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(r.deployer.activate("/nix/store/nope", "switch", SELF)).rejects.toThrow(/not a system/);
    const d = await r.deployer.activate(sys("sys-a"), "switch", SELF);
    expect((await until(r.deployer, d.id)).state).toBe("succeeded");
    expect((await readdir(r.stateDir)).sort()).toEqual(["deployment.json", "lineage.json"]);
  });
});

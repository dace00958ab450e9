// `deploy --wait-online` and `rollout resume` with robots behind a real relay: two real agent
// servers dial out to it, and the shipped CLI deploys through it. rl-on-a is online throughout;
// rl-on-b's link is started (it "comes online") and stopped by the tests. The set-up: online-rig.ts.
import { describe, expect, it } from "vitest";
import { A, B, DIRECT, robots, rolloutId, useOnlineRig, WINDOW_OPENS } from "./online-rig.js";

const rig = useOnlineRig();
const { online, onlineIn, offline, deploymentOf, cli } = rig;

describe("rollouts with robots that are offline", () => {
  it("a robot that connects 2 s into the window is deployed: exit 0, its wait reported", async () => {
    let opened = 0;
    const r = await cli(
      ["deploy", rig.system, "--target", A, "--target", B, "--wait-online", "30", "--json"],
      (line) => {
        if (!WINDOW_OPENS.test(line)) return;
        opened = Date.now();
        onlineIn(B, 2_000);
      },
    );
    try {
      expect(r.code, r.stderr).toBe(0);
      expect(opened).toBeGreaterThan(0);
      const x = robots(r);
      expect(x[A]).toMatchObject({ outcome: "succeeded", online: null });
      expect(x[B]).toMatchObject({ outcome: "succeeded", online: { reachedAt: expect.any(String) } });
      expect(x[B]?.online?.waitedSeconds).toBeGreaterThanOrEqual(2);
      expect(Date.parse(x[B]?.online?.reachedAt ?? "")).toBeGreaterThanOrEqual(opened + 1_900);
      expect(r.stderr).toMatch(/rl-on-b: offline, waiting to come online: .*not connected to the relay/);
      // Said when it is reached, before its deployment.
      const came = r.stderr.search(/rl-on-b: came online after \d/);
      expect(came).toBeGreaterThan(0);
      expect(came).toBeLessThan(r.stderr.indexOf("rl-on-b: activating"));
      // Said once at its wave, not once per attempt.
      expect(r.stderr.match(/not connected to the relay/g)).toHaveLength(1);
      expect(await deploymentOf(B, rolloutId(r))).toBeDefined();
    } finally {
      await offline(B);
    }
  }, 60_000);

  it("one that never connects ends missing (exit 6); `rollout resume` once it is online deploys only it", async () => {
    const r = await cli(["deploy", rig.system, "--target", A, "--target", B, "--wait-online", "1", "--json"]);
    expect(r.code, r.stderr).toBe(6);
    const id = rolloutId(r);
    const x = robots(r);
    expect(x[A]).toMatchObject({ outcome: "succeeded", online: null });
    expect(x[B]).toMatchObject({ outcome: "skipped", online: { reachedAt: null } });
    expect(x[B]?.reason).toMatch(/^offline: not reached within --wait-online 1: rl-on-b: UNAVAILABLE: /);
    expect(JSON.parse(r.stdout)).toMatchObject({
      outcome: "partial",
      reason: expect.stringMatching(/1 offline/),
    });
    expect(await deploymentOf(B, id)).toBeUndefined();
    const onA = await deploymentOf(A, id);
    expect(onA).toBeDefined();

    await online(B);
    try {
      const resumed = await cli(["rollout", "resume", id, "--target", A, "--target", B, "--json"]);
      expect(resumed.code, resumed.stderr).toBe(0);
      const y = robots(resumed);
      // A keeps its result (read from the robot, not run again); B is deployed.
      expect(y[A]).toMatchObject({ outcome: "succeeded", report: null });
      expect(y[B]).toMatchObject({ outcome: "succeeded", report: { deploymentId: expect.any(String) } });
      expect((await deploymentOf(A, id))?.id).toBe(onA?.id);
      const onB = await deploymentOf(B, id);
      expect(onB?.id).toBe(y[B]?.report?.deploymentId);

      // Offline when the rollout is rebuilt, online in the window: it already ran it, so it is followed, not redeployed.
      await offline(B);
      const rebuiltWithout = await cli(
        ["rollout", "resume", id, "--target", A, "--target", B, "--wait-online", "20", "--json"],
        (line) => {
          if (WINDOW_OPENS.test(line)) onlineIn(B, 1_000);
        },
      );
      expect(rebuiltWithout.code, rebuiltWithout.stderr).toBe(0);
      expect((await deploymentOf(B, id))?.id).toBe(onB?.id);
      expect(rebuiltWithout.stderr).toMatch(
        /rl-on-b: already has rollout r-\S+'s deployment d-\S+ \(SUCCEEDED\): following it, not deploying again/,
      );
      expect(robots(rebuiltWithout)[B]).toMatchObject({ outcome: "succeeded" });

      await rig.coming;
      const again = await cli(["rollout", "resume", id, "--target", A, "--target", B]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toMatch(
        /rollout r-\S+: already finished: every one of the 2 selected robots has its result; nothing to resume/,
      );
      expect((await deploymentOf(B, id))?.id).toBe(onB?.id);
      expect((await deploymentOf(A, id))?.id).toBe(onA?.id);
    } finally {
      await offline(B);
    }
  }, 90_000);

  it("a direct robot that cannot be reached waits too, and ends skipped (offline)", async () => {
    const r = await cli([
      "deploy",
      rig.system,
      "--target",
      DIRECT,
      "--target",
      A,
      "--wait-online",
      "1",
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(
      /rl-on-direct: offline, waiting to come online: rl-on-direct: UNAVAILABLE: cannot reach/,
    );
    expect(robots(r)[DIRECT]).toMatchObject({ outcome: "skipped", online: { reachedAt: null } });
    expect(robots(r)[A]).toMatchObject({ outcome: "succeeded" });
  }, 60_000);

  it("the abort threshold counts only robots that ran: an offline canary with --strict aborts nothing", async () => {
    const r = await cli(
      [
        "deploy",
        rig.system,
        "--target",
        B,
        "--target",
        A,
        "--canary",
        "1",
        "--strict",
        "--wait-online",
        "20",
        "--json",
      ],
      (line) => {
        if (WINDOW_OPENS.test(line)) onlineIn(B, 1_000);
      },
    );
    try {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/ABORTED/);
      const x = robots(r);
      expect(x[A]).toMatchObject({ outcome: "succeeded", online: null });
      expect(x[B]).toMatchObject({ outcome: "succeeded", online: { reachedAt: expect.any(String) } });
    } finally {
      await offline(B);
    }
  }, 60_000);

  it("a robot that connects as the window closes is either deployed or reported missing, never both", async () => {
    // Around the close of a 1 s window: before it, at it, after it.
    for (const offset of [-150, 0, 150]) {
      const r = await cli(
        ["deploy", rig.system, "--target", A, "--target", B, "--wait-online", "1", "--json"],
        (line) => {
          if (WINDOW_OPENS.test(line)) onlineIn(B, 1_000 + offset);
        },
      );
      try {
        const b = robots(r)[B];
        const deployed = (await deploymentOf(B, rolloutId(r))) !== undefined;
        expect([0, 6], r.stderr).toContain(r.code);
        if (b?.outcome === "succeeded") {
          // Deployed, and nowhere reported missing.
          expect(deployed).toBe(true);
          expect(r.code).toBe(0);
          expect(b.online?.reachedAt).toEqual(expect.any(String));
          expect(b.reason).not.toMatch(/offline|not reached/);
          expect(r.stderr).not.toMatch(/rl-on-b: skipped/);
        } else {
          expect(b).toMatchObject({ outcome: "skipped", online: { reachedAt: null } });
          expect(deployed).toBe(false);
          expect(r.code).toBe(6);
          expect(r.stderr).not.toMatch(/rl-on-b: came online/);
        }
      } finally {
        await offline(B);
      }
    }
  }, 120_000);

  it("a bad --wait-online is one line, exit 1, and nothing is contacted", async () => {
    const streams = rig.relay.metrics.streamsTotal;
    // Every bound is unit-tested (online.test.ts); here: the shipped CLI, one line, nothing contacted.
    for (const bad of ["0", "86401"]) {
      const r = await cli(["deploy", rig.system, "--target", A, "--target", B, `--wait-online=${bad}`]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")[0]).toBe(
        `error: --wait-online: expected whole seconds from 1 to 86400, got "${bad}"`,
      );
    }
    const one = await cli(["deploy", rig.system, "--target", A, "--wait-online", "5"]);
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/--wait-online: only with several targets/);
    expect(rig.relay.metrics.streamsTotal).toBe(streams);
  }, 60_000);
});

// Issue 28 on a lab robot with small disks: its /nix on a 300 MiB ext4 image and /boot on a
// 24 MiB one (lab up --store-size/--boot-size). The 1.5 GiB store and ~150 MiB systems
// scaled down by 5 (30 MiB systems, 11 deploys) so the file stays short on a loaded 2-core machine.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  agentPid,
  buildSizedSystems,
  exportClosure,
  hostPid,
  type LabRobot,
  labDown,
  labExec,
  labRestart,
  labUp,
  waitForAgent,
} from "../lab/index.js";
import { controller } from "../support/controller.js";
import {
  bootEntries,
  closureIntact,
  collectedSince,
  configureGc,
  counter,
  currentSystem,
  deploy,
  entryOf,
  gcRuns,
  generationSystems,
  MiB,
  noCollectionRunning,
  robotProcesses,
  sh,
  storeEntries,
  verifyStore,
} from "../support/disks.js";
import { until } from "../support/faults.js";

/** DISKS_ROBOT: another robot name, for running this file beside another run of it. */
const NAME = process.env.DISKS_ROBOT ?? "dk-disks";
const SYSTEM_MIB = 30;
/** 11 of 30 MiB (330 MiB pushed) do not fit the 300 MiB store without the collection (15 took 3 min). */
const DEPLOYS = 11;
const KEEP = 3;
const RESERVE = 16 * MiB;
const STORE_MIB = 300;
const BOOT_MIB = 24;
/**
 * The issue asks for 20 (DISKS_RACE_ROUNDS=20: passed, 3.5 min); 6 keep the whole file under
 * 5 min (each round is a full deploy, ~10 s here).
 */
const RACE_ROUNDS = Number(process.env.DISKS_RACE_ROUNDS ?? 6);

let robot: LabRobot;
/** sized-30m-<i> (odd i) and sized-30m-<i>-crashing (even i): deploy i of the DEPLOYS. */
let series: string[];
let big: string;
let small: string[];

const t0 = Date.now();
const mark = (what: string) =>
  process.stderr.write(`disks ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}\n`);

describe("a robot on small disks", () => {
  beforeAll(async () => {
    await labDown(NAME);
    const indices = Array.from({ length: DEPLOYS }, (_, i) => ({
      index: i + 1,
      crashing: (i + 1) % 2 === 0,
    }));
    const [lab, sized, huge, tiny] = await Promise.all([
      labUp(NAME, { disks: { store: STORE_MIB * MiB, boot: BOOT_MIB * MiB } }),
      buildSizedSystems(SYSTEM_MIB, indices),
      buildSizedSystems(200, [{ index: 1, crashing: false }]),
      buildSizedSystems(
        1,
        Array.from({ length: RACE_ROUNDS }, (_, i) => ({ index: i + 1, crashing: false })),
      ),
    ]);
    robot = lab;
    series = Object.values(sized);
    big = Object.values(huge)[0] ?? "";
    small = Object.values(tiny);
    await configureGc(robot, KEEP, RESERVE);
    mark("up");
  }, 600_000);
  afterAll(async () => {
    await labDown(NAME);
  }, 60_000);

  it(`${DEPLOYS} deploys of ${SYSTEM_MIB} MiB systems in a row on a 300 MiB store, every other one rolled back: all end as they should, and the store keeps only what the policy keeps`, async () => {
    let runs = 0;
    for (const [i, system] of series.entries()) {
      const crashing = system.endsWith("-crashing");
      runs = await gcRuns(robot);
      const run = await deploy(robot, system);
      mark(`deploy ${i + 1}: exit ${run.code}`);
      expect(run.code, `deploy ${i + 1} of ${system}: ${run.stderr.slice(-2000)}`).toBe(crashing ? 2 : 0);
    }
    await collectedSince(robot, runs);
    const good = series.filter((s) => !s.endsWith("-crashing"));
    const kept = good.slice(-KEEP);
    // The collection counted above may be the one a rolled-back deploy queued, which ran after the
    // last deploy started: the last deploy's own collection can still be to come.
    await until(
      "the last deploy's collection",
      async () =>
        (await generationSystems(robot)).length === KEEP &&
        (await storeEntries(robot, "-payload")).length === KEEP
          ? true
          : undefined,
      120_000,
    );
    await noCollectionRunning(robot);
    expect(await currentSystem(robot)).toBe(good.at(-1));
    expect(await generationSystems(robot)).toEqual(kept);
    // Every payload in the store belongs to a kept generation: the others were collected.
    const payloads = await storeEntries(robot, "-payload");
    const keptNames = kept.map((s) => `${s.replace(/^.*lab-system-/, "")}-payload`);
    expect(payloads.map((p) => p.replace(/^[a-z0-9]{32}-/, "")).sort()).toEqual(keptNames.sort());
    // The bootloader copies before it prunes: besides the kept ones, at most the entries of the
    // generations the last deploys' collections deleted after its switch.
    const boot = await bootEntries(robot);
    for (const s of kept) expect(boot).toEqual(expect.arrayContaining(entryOf(s)));
    expect(boot.length).toBeLessThanOrEqual(2 * (KEEP + 2));
    const dead = await sh(robot, "nix-store --gc --print-dead 2>/dev/null");
    expect(dead.trim(), "dead paths left in the store").toBe("");
    await verifyStore(robot);
  }, 900_000);

  it("a closure larger than the free space after collecting is refused before a byte is pushed, with the numbers; the robot is unchanged", async () => {
    const before = { current: await currentSystem(robot), generations: await generationSystems(robot) };
    const narBytes = await counter(robot, "ros_rollback_push_nar_bytes_total");
    const run = await deploy(robot, big);
    mark(`too big: exit ${run.code}: ${run.stderr.trim().split("\n").slice(-2).join(" | ")}`);
    expect(run.code, run.stderr).toBe(1);
    expect(await counter(robot, "ros_rollback_push_nar_bytes_total"), "NAR bytes the agent received").toBe(
      narBytes,
    );
    expect(run.stderr).toMatch(
      /the push needs 20[0-9](\.[0-9])? MiB, [0-9.]+ MiB free on \/nix\/store after collecting [0-9.]+ (bytes|KiB|MiB), reserve 16 MiB/,
    );
    expect(run.stderr, "a push that sent bytes").not.toMatch(/pushed [1-9]|[1-9][0-9.]* (KiB|MiB) sent/);
    expect(await storeEntries(robot, "sized-200m")).toEqual([]);
    expect(await currentSystem(robot)).toBe(before.current);
    expect(await generationSystems(robot)).toEqual(before.generations);
  }, 300_000);

  // Red at times: a nix-store --gc that started before the deploy's query reads the roots the query
  // makes only at its start, so it may delete what the query said was present (NOT_FOUND at Activate).
  it(`nix-store --gc by hand racing a deploy's push and switch (${RACE_ROUNDS} rounds): the deploy never loses a path`, async () => {
    for (const [i, system] of small.entries()) {
      // The closure imported by hand and collected again, over and over: when the deploy asks
      // what is missing, its paths are likely present but dead, with a collection running.
      const nar = `/tmp/dk-closure-${i}`;
      const closure = await exportClosure(system);
      const put = await labExec(NAME, ["sh", "-c", `cat > ${nar}`], { input: closure, timeoutMs: 60_000 });
      expect(put.code, put.stderr).toBe(0);
      const stop = `/tmp/dk-stop-gc-${i}`;
      const loop = labExec(
        NAME,
        [
          "sh",
          "-c",
          `n=0; while [ ! -e ${stop} ]; do nix-store --import < ${nar} >/dev/null 2>&1; ` +
            `nix-store --gc >/dev/null 2>&1; n=$((n+1)); done; rm ${nar}; echo $n`,
        ],
        { timeoutMs: 300_000 },
      );
      const run = await deploy(robot, system).finally(() => sh(robot, `touch ${stop}`));
      const gcs = await loop;
      expect(gcs.code).toBe(0);
      mark(`race round ${i + 1}: exit ${run.code}, ${gcs.stdout.trim()} collections by hand meanwhile`);
      expect(Number(gcs.stdout.trim()), "collections during the deploy").toBeGreaterThan(1);
      expect(run.code, `round ${i + 1}: ${run.stderr.slice(-2000)}`).toBe(0);
      expect(await currentSystem(robot)).toBe(system);
      await closureIntact(robot, system);
    }
    await noCollectionRunning(robot);
    await verifyStore(robot);
  }, 900_000);

  it.each(["SIGKILL", "power cut"] as const)(
    "%s during the agent's collection: the store verifies clean and the next deploy succeeds",
    async (fault) => {
      await noCollectionRunning(robot);
      // Dead paths of many files each, so the collection takes a while to delete them.
      await sh(
        robot,
        "for p in 1 2 3; do d=/tmp/dk-dead-$p; mkdir -p $d; (cd $d && seq 1 8000 | xargs touch); " +
          "echo $p > $d/id; nix-store --add $d >/dev/null; rm -rf $d; done",
        300_000,
      );
      expect((await storeEntries(robot, "dk-dead-")).length).toBe(3);
      const agent = await agentPid(NAME);
      const gc = controller(robot, ["gc"], 300_000);
      gc.catch(() => undefined);
      // Polled from the host (the robot's /nix is mounted under its root there): a round trip into
      // the robot is slower than the collection. The fault comes once the first dead path is gone.
      const deadLeft = () =>
        readdirSync(join(robot.rootDir, "nix/store")).filter((e) => e.includes("dk-dead-"));
      const end = Date.now() + 120_000;
      let nix: number[] = [];
      while (nix.length === 0 && Date.now() < end) {
        nix = robotProcesses(robot, "nix-store", "--gc");
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(nix.length, "nix-store --gc of the agent's collection").toBe(1);
      while (deadLeft().length === 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      const victims = fault === "SIGKILL" ? [...nix, hostPid(robot.pid, agent)] : [robot.pid];
      for (const pid of victims) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // the collection ended already: the checks below say so
        }
      }
      if (fault === "SIGKILL") {
        await until(
          "the agent back",
          async () => ([0, agent].includes(await agentPid(NAME)) ? undefined : true),
          60_000,
        );
        await waitForAgent(NAME, { timeoutMs: 60_000 });
      } else {
        robot = await labRestart(NAME, { hard: true }).catch(() => labUp(NAME));
        await waitForAgent(NAME, { timeoutMs: 60_000 });
      }
      await gc;
      const left = await storeEntries(robot, "dk-dead-");
      mark(`${fault}: ${left.length} of 3 dead paths left`);
      expect(left.length, "the collection had ended before the fault").toBeGreaterThan(0);
      expect(left.length, "the collection had not started deleting").toBeLessThan(3);
      await verifyStore(robot);
      const next = small[(fault === "SIGKILL" ? 0 : 1) % small.length] ?? "";
      const run = await deploy(robot, next);
      expect(run.code, run.stderr.slice(-2000)).toBe(0);
      await closureIntact(robot, next);
      await noCollectionRunning(robot);
      await verifyStore(robot);
    },
    600_000,
  );

  it("a full /boot: the deploy is refused before the switch with the numbers; the robot and its boot entries are unchanged", async () => {
    await noCollectionRunning(robot);
    const before = await currentSystem(robot);
    const generations = await generationSystems(robot);
    expect(await bootEntries(robot)).toEqual(expect.arrayContaining(entryOf(before)));
    await sh(robot, "fallocate -l $(( $(df --output=avail -B1 /boot | tail -1) - 262144 )) /boot/filler");
    const status = await controller(robot, ["status", "--json"]);
    const space = (status.json as { space?: { bootFreeBytes?: number; bootSizeBytes?: number } }).space;
    expect(space?.bootSizeBytes).toBeLessThan(BOOT_MIB * MiB);
    expect(space?.bootFreeBytes).toBeLessThan(MiB);
    const entries = await bootEntries(robot);

    const next = small[2] ?? "";
    const run = await deploy(robot, next);
    mark(`full /boot: exit ${run.code}: ${run.stderr.trim().split("\n").slice(-3).join(" | ")}`);
    // Without the agent's check the lab's bootloader step fails half-way (ENOSPC, "Failed to
    // install bootloader", exit 1) after the profile moved, and the agent rolls back (exit 2).
    expect(run.code, run.stderr.slice(-2000)).toBe(1);
    expect(run.stderr).toMatch(
      /the boot entry needs 1\.5 MiB \(kernel 512 KiB, initrd 1 MiB\) and a reserve of [0-9.]+ MiB, [0-9.]+ KiB free on \/boot/,
    );
    expect(await currentSystem(robot)).toBe(before);
    expect(await generationSystems(robot)).toEqual(generations);
    expect(await bootEntries(robot), "no half-copied entry, none removed").toEqual(entries);

    await sh(robot, "rm /boot/filler");
    const again = await deploy(robot, next);
    expect(again.code, again.stderr.slice(-2000)).toBe(0);
    expect(await bootEntries(robot)).toEqual(expect.arrayContaining(entryOf(next)));
    await verifyStore(robot);
  }, 300_000);
});

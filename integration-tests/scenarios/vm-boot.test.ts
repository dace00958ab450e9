// Issue 30 on a VM robot (QEMU, OVMF, systemd-boot with boot counting): a reboot deployment is
// judged after the boot, and a generation that cannot boot, or boots unhealthy, or is not confirmed,
// comes back to the previous one without a human. One VM for the file; each case starts on a
// healthy generation with a kernel (kernel-ok or kernel-ok-b), which the fallback needs: the loader
// falls back to the newest entry left, and lab-boot runs the system that entry names.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildKernelSystems,
  exportClosure,
  type KernelSystem,
  type LabRobot,
  labDown,
  labExec,
  labRestart,
  labUp,
  labVmImage,
  waitForAgent,
} from "../lab/index.js";
import { type CliRun, controller } from "../support/controller.js";

const NAME = "vmboot-s";
/** Every wait here spans reboots under TCG (~100 s each); the file stays ≤ ~12 min on 2 cores. */
const REBOOT_DEPLOY_MS = 900_000;
let robot: LabRobot;
let systems: Record<KernelSystem, string>;

const inVm = (argv: string[], timeoutMs = 30_000) => labExec(NAME, argv, { timeoutMs });
const currentSystem = async () => (await inVm(["readlink", "/run/current-system"])).stdout.trim();
const entries = async () =>
  (await inVm(["ls", "/boot/loader/entries"])).stdout
    .split("\n")
    .filter((f) => f.startsWith("nixos-generation-"));

interface DeployJson {
  outcome: string;
  reason: string;
  generation: number | null;
  previousGeneration: number | null;
}
interface StatusJson {
  currentSystem: string;
  currentGeneration: number | null;
  profileSystem: string;
}
interface GenerationJson {
  generation: number;
  storePath: string;
  current: boolean;
}

/** The controller confirms once it reaches the rebooted agent, which under TCG takes a while. */
const CONFIRM = ["--confirm-timeout", "120"];

function rebootDeploy(system: KernelSystem, ...extra: string[]): Promise<CliRun> {
  return controller(
    robot,
    [
      "deploy",
      systems[system],
      "--sign-key",
      robot.signingKey,
      "--action",
      "boot",
      "--reboot",
      "--json",
      ...extra,
    ],
    REBOOT_DEPLOY_MS,
  );
}
const json = <T>(run: CliRun): T => {
  if (run.json === undefined)
    throw new Error(`no JSON on stdout (exit ${run.code}): ${run.stderr.slice(-2000)}`);
  return run.json as T;
};
const status = async () => json<StatusJson>(await controller(robot, ["status", "--json"]));
const generations = async () => json<GenerationJson[]>(await controller(robot, ["generations", "--json"]));

/** The robot runs `system`, profile and status agree, and the loader boots it by default. */
async function expectOn(system: KernelSystem): Promise<void> {
  expect(await currentSystem()).toBe(systems[system]);
  const s = await status();
  expect(s.currentSystem).toBe(systems[system]);
  expect(s.profileSystem).toBe(systems[system]);
  const current = (await generations()).find((g) => g.current);
  expect(current?.storePath).toBe(systems[system]);
  const loader = (await inVm(["cat", "/boot/loader/loader.conf"])).stdout;
  expect(loader).toContain(`default nixos-generation-${current?.generation}.conf`);
  expect(await entries()).toContain(`nixos-generation-${current?.generation}.conf`);
}

interface StatusDeployment {
  deployment?: { state?: string } | null;
  lastDeployment?: { state?: string; message?: string } | null;
}
const CLI = fileURLToPath(new URL("../../controller/dist/bundle/cli.js", import.meta.url));

/** A reboot deployment left running (to kill it, or to cut the power under it): its exit and output. */
function startRebootDeploy(system: KernelSystem, ...extra: string[]) {
  const child = spawn(
    process.execPath,
    [
      CLI,
      "deploy",
      systems[system],
      "--sign-key",
      robot.signingKey,
      "--action",
      "boot",
      "--reboot",
      "--json",
      ...extra,
      "--inventory",
      robot.inventory,
      "--target",
      robot.target,
    ],
    { stdio: ["ignore", "pipe", "pipe"], timeout: REBOOT_DEPLOY_MS, killSignal: "SIGKILL" },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const done = new Promise<CliRun>((resolve) =>
    child.on("close", (code) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(stdout);
      } catch {
        parsed = undefined;
      }
      resolve({ code: code ?? -1, stdout, stderr, json: parsed });
    }),
  );
  return { kill: () => child.kill("SIGKILL"), done };
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
const bootId = async () => (await inVm(["cat", "/proc/sys/kernel/random/boot_id"], 10_000)).stdout.trim();
const deploymentState = async () =>
  json<StatusDeployment>(await controller(robot, ["status", "--json"], 20_000)).deployment?.state;

describe("boot-level rollback on a VM robot", () => {
  beforeAll(async () => {
    const image = await labVmImage();
    [robot, systems] = await Promise.all([
      labUp(NAME, { vm: true, bootTimeoutMs: 600_000 }),
      buildKernelSystems(image),
    ]);
    await waitForAgent(NAME, { timeoutMs: 300_000 });
    // Import every closure once: each case below measures the reboots, not the transfer.
    for (const s of Object.values(systems)) {
      const r = await labExec(NAME, ["nix-store", "--import"], {
        input: await exportClosure(s),
        timeoutMs: 180_000,
      });
      expect(r.code, r.stderr).toBe(0);
    }
  }, 900_000);
  afterAll(async () => {
    await labDown(NAME);
  }, 60_000);

  it(
    "(3) a healthy reboot deployment: exit 0, its entry blessed, and a plain reboot comes up on it",
    async () => {
      const run = await rebootDeploy("kernel-ok");
      const out = json<DeployJson>(run);
      expect(run.code, run.stderr.slice(-3000)).toBe(0);
      expect(out.outcome).toBe("succeeded");
      expect(await entries()).toContain(`nixos-generation-${out.generation}.conf`);
      expect((await entries()).filter((e) => e.includes("+"))).toEqual([]);
      expect((await inVm(["cat", "/proc/cmdline"])).stdout).toContain("lab.variant=kernel-ok ");
      await labRestart(NAME, { bootTimeoutMs: 600_000 });
      await waitForAgent(NAME, { timeoutMs: 300_000 });
      await expectOn("kernel-ok");
    },
    REBOOT_DEPLOY_MS + 300_000,
  );

  it(
    "(1) a generation that panics at boot: after its tries the VM is back on the previous one by itself, exit 2",
    async () => {
      const before = await generations();
      const run = await rebootDeploy("kernel-panic");
      const out = json<DeployJson>(run);
      expect(run.code, run.stderr.slice(-3000)).toBe(2);
      expect(out.reason).toMatch(/generation \d+ did not boot \(2 tries\)/);
      await waitForAgent(NAME, { timeoutMs: 300_000 });
      await expectOn("kernel-ok");
      expect(await generations()).toEqual(before);
      expect((await entries()).some((e) => e.startsWith(`nixos-generation-${out.generation}`))).toBe(false);
    },
    REBOOT_DEPLOY_MS,
  );

  it(
    "(2) a generation that boots unhealthy: back on the previous one, exit 2 naming the check, never blessed",
    async () => {
      // Every listing of the entries while the deployment runs: the new one never loses its counter.
      const seen = new Set<string>();
      let watching = true;
      const watch = (async () => {
        while (watching) {
          const r = await inVm(["ls", "/boot/loader/entries"], 10_000).catch(() => undefined);
          for (const f of r?.stdout.split("\n") ?? []) if (f !== "") seen.add(f);
          await new Promise((res) => setTimeout(res, 1_000));
        }
      })();
      const run = await rebootDeploy("kernel-unhealthy").finally(() => {
        watching = false;
      });
      await watch;
      const out = json<DeployJson>(run);
      expect(run.code, run.stderr.slice(-3000)).toBe(2);
      expect(out.reason).toContain("talker.service");
      expect([...seen].some((f) => f.startsWith(`nixos-generation-${out.generation}+`))).toBe(true);
      expect(seen.has(`nixos-generation-${out.generation}.conf`)).toBe(false);
      await waitForAgent(NAME, { timeoutMs: 300_000 });
      await expectOn("kernel-ok");
    },
    REBOOT_DEPLOY_MS,
  );

  it(
    "(5) the controller gone after the reboot: not confirmed, back on the previous generation",
    async () => {
      const first = await bootId();
      const run = startRebootDeploy("kernel-ok-b", "--confirm-timeout", "30");
      await until("the reboot", async () => ![first, ""].includes(await bootId()), 300_000);
      run.kill();
      await run.done;
      // The agent judges the boot, waits for a Confirm until the recorded deadline, rolls back and reboots.
      await until(
        "the rollback",
        async () =>
          (await deploymentState()) === undefined && (await currentSystem()) === systems["kernel-ok"],
        REBOOT_DEPLOY_MS - 300_000,
      );
      const last = json<StatusDeployment>(await controller(robot, ["status", "--json"])).lastDeployment;
      expect(last?.state).toBe("ROLLED_BACK");
      expect(last?.message).toMatch(/confirm/i);
      await waitForAgent(NAME, { timeoutMs: 300_000 });
      await expectOn("kernel-ok");
    },
    REBOOT_DEPLOY_MS,
  );

  for (const [when, state] of [
    ["the new generation's first boot", "AWAITING_REBOOT"],
    ["the health window", "CHECKING_HEALTH"],
  ] as const) {
    it(
      `(4) a power cut during ${when}: ends on a good generation, the exit code says which`,
      async () => {
        const before = await currentSystem();
        const next: KernelSystem = before === systems["kernel-ok"] ? "kernel-ok-b" : "kernel-ok";
        const first = await bootId();
        const run = startRebootDeploy(next, ...CONFIRM);
        await until(state, async () => (await deploymentState()) === state, 300_000);
        if (state === "AWAITING_REBOOT") {
          // The agent reboots now: cut the power once the old boot is gone, in the firmware or the kernel.
          await until("the reboot", async () => (await bootId().catch(() => "")) !== first, 120_000);
          await new Promise((r) => setTimeout(r, 15_000));
        }
        await labRestart(NAME, { hard: true, bootTimeoutMs: 600_000 });
        const out = await run.done;
        expect([0, 2], out.stderr.slice(-3000)).toContain(out.code);
        await waitForAgent(NAME, { timeoutMs: 300_000 });
        await expectOn(out.code === 0 ? next : before === systems["kernel-ok"] ? "kernel-ok" : "kernel-ok-b");
      },
      REBOOT_DEPLOY_MS + 300_000,
    );
  }
});

// The VM scenario's robot: one QEMU VM with every kernel system imported, the controller's views of
// it (deploy, status, generations), its loader entries, and a reboot deployment left running (to
// kill the controller under it, or to cut the power under it).
import { expect } from "vitest";
import {
  buildKernelSystems,
  exportClosure,
  type KernelSystem,
  type LabRobot,
  labDown,
  labExec,
  labUp,
  labVmImage,
  waitForAgent,
} from "../lab/index.js";
import { cliJson } from "./cli-json.js";
import { type CliRun, controller, type RunningCli, startController } from "./controller.js";

/** Every wait spans reboots under TCG (~100 s each, more on a loaded host). */
export const REBOOT_DEPLOY_MS = 900_000;
/** A boot to the agent under TCG on a loaded host. */
export const AGENT_MS = 300_000;

export interface DeployJson {
  outcome: string;
  reason: string;
  generation: number | null;
  previousGeneration: number | null;
  rollbackReason: string | null;
}
interface DeploymentJson {
  id: string;
  state: string;
  message: string;
  rollbackReason: string | null;
}
export interface StatusJson {
  currentSystem: string;
  currentGeneration: number | null;
  profileSystem: string;
  deployment: DeploymentJson | null;
  lastDeployment: DeploymentJson | null;
}
export interface GenerationJson {
  generation: number;
  storePath: string;
  current: boolean;
}

/** stdout's JSON; a failed command's error document throws (a status while the robot reboots). */
export const json = cliJson;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` (a failing call counts as false) until it holds, or throws naming `what`. */
export async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(1_000);
  }
}

/** A reboot deployment left running (to kill, or to cut the power under); killed ends with 128. */
export type RunningDeploy = Omit<RunningCli, "done"> & { readonly done: Promise<CliRun> };

function startDeploy(robot: LabRobot, args: readonly string[]): RunningDeploy {
  const run = startController(robot, args, REBOOT_DEPLOY_MS);
  const done = run.done.then((r) => ({ ...r, code: r.code ?? (r.signal === null ? -1 : 128) }));
  return { ...run, done };
}

export interface VmScenario {
  readonly name: string;
  system(s: KernelSystem): string;
  /** Boots the VM (once per file) and imports every kernel system's closure. */
  up(): Promise<void>;
  down(): Promise<void>;
  inVm(argv: string[], timeoutMs?: number): ReturnType<typeof labExec>;
  currentSystem(): Promise<string>;
  entries(): Promise<string[]>;
  /** The kernel's boot id; "" while the VM does not answer. */
  bootId(): Promise<string>;
  status(): Promise<StatusJson>;
  generations(): Promise<GenerationJson[]>;
  /** `deploy SYSTEM --action boot --reboot --json`, awaited. */
  rebootDeploy(s: KernelSystem, ...extra: string[]): Promise<CliRun>;
  /** The same, left running. */
  startRebootDeploy(s: KernelSystem, ...extra: string[]): RunningDeploy;
  /** The robot runs `s`, profile and status agree, and the loader boots it by default. */
  expectOn(s: KernelSystem): Promise<void>;
}

export function vmScenario(name: string): VmScenario {
  let robot: LabRobot | undefined;
  let systems: Record<KernelSystem, string> | undefined;
  const theRobot = (): LabRobot => {
    if (robot === undefined) throw new Error(`VM ${name} is not up`);
    return robot;
  };
  const system = (s: KernelSystem): string => {
    if (systems === undefined) throw new Error("kernel systems not built");
    return systems[s];
  };
  const inVm = (argv: string[], timeoutMs = 30_000) => labExec(name, argv, { timeoutMs });
  const deployArgs = (s: KernelSystem, extra: string[]) => [
    "deploy",
    system(s),
    "--sign-key",
    theRobot().signingKey,
    "--action",
    "boot",
    "--reboot",
    "--json",
    ...extra,
  ];
  const status = async () => json<StatusJson>(await controller(theRobot(), ["status", "--json"], 60_000));
  const generations = async () =>
    json<GenerationJson[]>(await controller(theRobot(), ["generations", "--json"], 60_000));
  const currentSystem = async () => (await inVm(["readlink", "/run/current-system"])).stdout.trim();
  const entries = async () =>
    (await inVm(["ls", "/boot/loader/entries"])).stdout
      .split("\n")
      .filter((f) => f.startsWith("nixos-generation-"));

  return {
    name,
    system,
    async up() {
      const image = await labVmImage();
      [robot, systems] = await Promise.all([
        labUp(name, { vm: true, bootTimeoutMs: 600_000 }),
        buildKernelSystems(image),
      ]);
      await waitForAgent(name, { timeoutMs: AGENT_MS });
      // Every closure once: each case measures the reboots, not the transfer.
      for (const s of Object.values(systems)) {
        const r = await labExec(name, ["nix-store", "--import"], {
          input: await exportClosure(s),
          timeoutMs: 180_000,
        });
        expect(r.code, r.stderr).toBe(0);
      }
    },
    down: () => labDown(name),
    inVm,
    currentSystem,
    entries,
    async bootId() {
      const r = await inVm(["cat", "/proc/sys/kernel/random/boot_id"], 10_000).catch(() => undefined);
      return r?.code === 0 ? r.stdout.trim() : "";
    },
    status,
    generations,
    rebootDeploy: (s, ...extra) => controller(theRobot(), deployArgs(s, extra), REBOOT_DEPLOY_MS),
    startRebootDeploy: (s, ...extra) => startDeploy(theRobot(), deployArgs(s, extra)),
    async expectOn(s) {
      expect(await currentSystem()).toBe(system(s));
      const st = await status();
      expect(st.currentSystem).toBe(system(s));
      expect(st.profileSystem).toBe(system(s));
      const current = (await generations()).find((g) => g.current);
      expect(current?.storePath).toBe(system(s));
      const loader = (await inVm(["cat", "/boot/loader/loader.conf"])).stdout;
      expect(loader).toContain(`default nixos-generation-${current?.generation}.conf`);
      expect(await entries()).toContain(`nixos-generation-${current?.generation}.conf`);
    },
  };
}

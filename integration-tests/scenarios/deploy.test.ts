// Issue 2 end to end: the real controller CLI pushes signed closures over mTLS gRPC to the real
// agent on a lab robot (systemd, Nix store and ROS 1 in a container) and switches generations.
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  ActivationAction,
  Compression,
  type DeploymentEvent,
  type PushPathsRequest,
} from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeClosure, signPaths } from "../../controller/src/closure/index.js";
import { pushRequests } from "../../controller/src/push/push-requests.js";
import { buildSystems, type LabRobot, labDown, labExec, labUp, waitForAgent } from "../lab/index.js";
import { options } from "../support/agent.js";
import { agentClient, controller, controllerTls, sendPush } from "../support/controller.js";

const NAME = "deploy";
/** Raw gRPC activations in these tests keep the system once healthy (no Confirm round trip). */
const SELF_CONFIRM = options({ selfConfirm: true });
let robot: LabRobot;
let systems: Record<string, string>;

const sys = (name: string): string => {
  const p = systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};

async function inRobot(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return labExec(NAME, argv, { timeoutMs: 30_000 });
}

const showUnit = async (unit: string) =>
  (await inRobot(["systemctl", "show", "-p", "MainPID,ActiveEnterTimestamp", unit])).stdout.trim();

const currentSystem = async () => (await inRobot(["readlink", "/run/current-system"])).stdout.trim();

interface DeployJson {
  outcome: string;
  generation: number | null;
  previousGeneration: number | null;
  push: { pathsMissing: number; narBytes: number; wireBytes: number };
}

function deploy(system: string, ...extra: string[]) {
  return controller(robot, ["deploy", sys(system), "--sign-key", robot.signingKey, "--json", ...extra]);
}

async function invalidInRobot(paths: readonly string[]): Promise<string[]> {
  const res = await inRobot(["nix-store", "--check-validity", "--print-invalid", ...paths]);
  return res.stdout.split("\n").filter((l) => l !== "");
}

describe("deploy over mTLS gRPC to a lab robot", () => {
  beforeAll(async () => {
    [robot, systems] = await Promise.all([labUp(NAME), buildSystems()]);
    await waitForAgent(NAME, { timeoutMs: 30_000 });
  });
  afterAll(async () => {
    await labDown(NAME);
  });

  it("deploys talker: generation 1 is current and /chatter carries messages", async () => {
    const run = await deploy("talker");
    expect(run.code, run.stderr).toBe(0);
    expect(run.json).toMatchObject({ outcome: "succeeded", generation: 1 });
    expect(await currentSystem()).toBe(sys("talker"));
    const echo = await inRobot(["timeout", "15", "rostopic", "echo", "-n", "1", "/chatter"]);
    expect(echo.code, echo.stderr).toBe(0);
    expect(echo.stdout).toMatch(/data: "hello world \d+"/);
  });

  it("deploys talker-header: generation 2, and roscore was not restarted", async () => {
    const roscoreBefore = await showUnit("roscore.service");
    const talkerBefore = await showUnit("talker.service");
    const run = await deploy("talker-header");
    expect(run.code, run.stderr).toBe(0);
    expect(run.json).toMatchObject({ outcome: "succeeded", generation: 2, previousGeneration: 1 });
    expect(await currentSystem()).toBe(sys("talker-header"));
    expect(await showUnit("roscore.service")).toBe(roscoreBefore);
    expect(await showUnit("talker.service")).not.toBe(talkerBefore);
    const echo = await inRobot(["timeout", "15", "rostopic", "echo", "-n", "1", "/chatter"]);
    expect(echo.stdout).toMatch(/stamp:/);
  });

  it("redeploying a closure the robot has pushes 0 bytes", async () => {
    const run = await deploy("talker-header");
    expect(run.code, run.stderr).toBe(0);
    const json = run.json as DeployJson;
    expect(json.push).toMatchObject({ pathsMissing: 0, narBytes: 0, wireBytes: 0 });
  });

  it("rolls back to the recorded previous generation: the talker system is active again", async () => {
    const run = await controller(robot, ["rollback", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json).toMatchObject({ outcome: "succeeded", generation: 1 });
    expect(await currentSystem()).toBe(sys("talker"));
    const gens = await controller(robot, ["generations", "--json"]);
    expect(gens.json).toEqual([
      expect.objectContaining({ generation: 1, current: true, storePath: sys("talker") }),
      expect.objectContaining({ generation: 2, current: false, storePath: sys("talker-header") }),
    ]);
  });

  it("refuses a client whose certificate comes from another CA", async () => {
    // Trusts the robot's CA for the server, but presents a client certificate of another CA.
    const rogue = agentClient(robot, {
      caFile: controllerTls(robot).caFile,
      certFile: robot.rogue.certFile,
      keyFile: robot.rogue.keyFile,
    });
    const err = await new Promise<ServiceError | null>((resolve) =>
      rogue.getStatus({}, new Metadata(), { deadline: Date.now() + 5_000 }, (e) => resolve(e)),
    );
    expect(err?.code).toBe(status.UNAVAILABLE);
    rogue.close();
    // The same call with the controller's certificate goes through.
    const ok = agentClient(robot);
    const st = await new Promise((resolve, reject) =>
      ok.getStatus({}, new Metadata(), { deadline: Date.now() + 5_000 }, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
    expect(st).toMatchObject({ hostname: NAME });
    ok.close();
  });

  it("refuses an unsigned closure and registers nothing", async () => {
    const run = await controller(robot, ["deploy", sys("crashing-talker"), "--json"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/PERMISSION_DENIED/);
    expect(await invalidInRobot([sys("crashing-talker")])).toEqual([sys("crashing-talker")]);
  });

  it("refuses a tampered closure (bytes differ from the signed NAR hash) and registers nothing", async () => {
    const signal = AbortSignal.timeout(60_000);
    const closure = await signPaths(await computeClosure(sys("silent-talker"), signal), robot.signingKey);
    const client = agentClient(robot);
    // Flip one byte inside the system path's own NAR (paths the robot has already are skipped unread).
    async function* tampered(): AsyncIterable<PushPathsRequest> {
      let current = "";
      let flipped = false;
      for await (const r of pushRequests(closure, { compression: Compression.COMPRESSION_NONE }, signal)) {
        if (r.item?.$case === "path") current = r.item.value.storePath;
        if (
          !flipped &&
          current === sys("silent-talker") &&
          r.item?.$case === "chunk" &&
          r.item.value.data.length > 200
        ) {
          const data = Buffer.from(r.item.value.data);
          data[150] = (data[150] ?? 0) ^ 0xff;
          flipped = true;
          yield { item: { $case: "chunk", value: { data } } };
        } else {
          yield r;
        }
      }
      expect(flipped).toBe(true);
    }
    const err = (await sendPush(client, tampered()).then(
      (res) => ({ code: undefined, details: JSON.stringify(res) }),
      (e: unknown) => e,
    )) as ServiceError;
    expect(err.code, err.details ?? String(err)).toBe(status.DATA_LOSS);
    expect(err.details).toMatch(/hash/i);
    client.close();
    expect(await invalidInRobot([sys("silent-talker")])).toEqual([sys("silent-talker")]);
  });

  it("gives INVALID_ARGUMENT for a malformed store path", async () => {
    const client = agentClient(robot);
    for (const bad of ["/nix/store/notahash-x", `/nix/store/${"a".repeat(32)}-..`, "/etc/passwd"]) {
      const err = await new Promise<ServiceError>((resolve) => {
        const call = client.activate({
          storePath: bad,
          action: ActivationAction.ACTIVATION_ACTION_SWITCH,
          options: SELF_CONFIRM,
          overrideHolds: [],
        });
        call.on("data", () => undefined);
        call.on("error", (e: ServiceError) => resolve(e));
      });
      expect(err.code, bad).toBe(status.INVALID_ARGUMENT);
    }
    const missing = await new Promise<ServiceError | null>((resolve) =>
      client.queryMissingPaths({ storePaths: ["/nix/store/x"] }, (e) => resolve(e)),
    );
    expect(missing?.code).toBe(status.INVALID_ARGUMENT);
    const cli = await controller(robot, ["deploy", "/nix/store/not-a-store-path"]);
    expect(cli.code).toBe(1);
    client.close();
  });

  it("gives FAILED_PRECONDITION to a second Activate while one runs", async () => {
    const client = agentClient(robot);
    const first = client.activate({
      storePath: sys("talker-header"),
      action: ActivationAction.ACTIVATION_ACTION_SWITCH,
      options: SELF_CONFIRM,
      overrideHolds: [],
    });
    const firstEvents: DeploymentEvent[] = [];
    const firstDone = new Promise<void>((resolve, reject) => {
      first.on("data", (e: DeploymentEvent) => firstEvents.push(e));
      first.on("end", resolve);
      first.on("error", reject);
    });
    const firstId = await new Promise<string>((resolve) =>
      first.once("data", (e: DeploymentEvent) => resolve(e.deploymentId)),
    );
    const err = await new Promise<ServiceError>((resolve) => {
      const second = client.activate({
        storePath: sys("talker"),
        action: ActivationAction.ACTIVATION_ACTION_SWITCH,
        options: SELF_CONFIRM,
        overrideHolds: [],
      });
      second.on("data", () => undefined);
      second.on("error", (e: ServiceError) => resolve(e));
    });
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toContain(firstId);
    await firstDone;
    expect(firstEvents.at(-1)?.final).toBe(true);
    client.close();
  });
});

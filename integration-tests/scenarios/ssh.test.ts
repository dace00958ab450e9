// The lab's sshd (`up --ssh`): root logs in with the lab key, the robot's own host key is pinned,
// and `nix copy --to ssh://` (Nix's legacy ssh store, `nix-store --serve` in the robot) copies a
// path. A robot up without --ssh runs no sshd.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LabRobot, labDown, labExec, labUp } from "../lab/index.js";

const sh = promisify(execFile);
const WITH = "lab-ssh";
const WITHOUT = "lab-nossh";
let robot: LabRobot;
let plain: LabRobot;
const HOST_NIX = "build-users-group =\nsandbox = false\nsubstituters =\nexperimental-features = nix-command";

const ssh = (r: LabRobot, args: string[], options = r.ssh?.options ?? []) =>
  sh("ssh", [...options, r.ssh?.destination ?? "", ...args], { timeout: 30_000 });

function port22(host: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port: 22, timeout: 2_000 });
    const done = (what: string) => {
      s.destroy();
      resolve(what);
    };
    s.once("connect", () => done("open"));
    s.once("error", (e: NodeJS.ErrnoException) => done(e.code ?? "error"));
    s.once("timeout", () => done("timeout"));
  });
}

describe("lab robot with sshd", () => {
  beforeAll(async () => {
    [robot, plain] = await Promise.all([
      labUp(WITH, { agent: false, ssh: true }),
      labUp(WITHOUT, { agent: false }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([labDown(WITH), labDown(WITHOUT)]);
  });

  it("root logs in with the lab key, checked against the robot's own host key", async () => {
    expect(robot.ssh?.destination).toBe(`root@${robot.address.split(":")[0]}`);
    const r = await ssh(robot, ["id", "-un", ";", "hostname"]);
    expect(r.stdout).toBe(`root\n${WITH}\n`);
    // Another host key pinned for this name: refused, as a man in the middle would be.
    const dir = mkdtempSync(join(tmpdir(), "lab-ssh-"));
    await sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "other")]);
    const forged = join(dir, "known_hosts");
    writeFileSync(forged, `${WITH} ${readFileSync(join(dir, "other.pub"), "utf8")}`);
    const options = (robot.ssh?.options ?? []).map((o) =>
      o.startsWith("UserKnownHostsFile=") ? `UserKnownHostsFile=${forged}` : o,
    );
    await expect(ssh(robot, ["true"], options)).rejects.toThrow(/Host key verification failed/);
    rmSync(dir, { recursive: true });
  });

  it("nix copy --to ssh:// copies a path into the robot's store", async () => {
    const env = { ...process.env, NIX_CONFIG: HOST_NIX };
    const expr = `derivation { name = "lab-ssh-${Date.now()}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo copied > $out" ]; }`;
    const path = (await sh("nix-build", ["--no-out-link", "-E", expr], { env })).stdout.trim();
    expect((await labExec(WITH, ["nix-store", "--check-validity", path])).code).not.toBe(0);
    await sh("nix", ["copy", "--to", `ssh://${robot.ssh?.destination}`, path], {
      env: { ...env, NIX_SSHOPTS: (robot.ssh?.options ?? []).join(" ") },
      timeout: 60_000,
    });
    expect((await labExec(WITH, ["nix-store", "--check-validity", path])).code).toBe(0);
    expect((await labExec(WITH, ["cat", path])).stdout).toBe("copied\n");
    await sh("nix-store", ["--delete", path], { env });
  });

  it("a robot up without --ssh runs no sshd, and up --ssh on it says to down it first", async () => {
    expect(plain.ssh).toBeUndefined();
    expect(await port22(plain.address.split(":")[0] ?? "")).toBe("ECONNREFUSED");
    await expect(labUp(WITHOUT, { agent: false, ssh: true })).rejects.toThrow(/without sshd: down it first/);
  });
});

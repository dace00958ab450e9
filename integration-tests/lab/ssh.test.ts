import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ensureHostKey, ensureLabSshKey, knownHostsLine, sshOptions, writeSshFiles } from "./ssh.js";

const dir = mkdtempSync(join(tmpdir(), "lab-ssh-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lab ssh", () => {
  it("concurrent ups agree on one lab key, made once", async () => {
    const keyDir = join(dir, "ssh-key");
    const [a, b] = await Promise.all([ensureLabSshKey(keyDir), ensureLabSshKey(keyDir)]);
    expect(a).toEqual(b);
    const pub = readFileSync(`${a.identityFile}.pub`, "utf8");
    expect(pub).toMatch(/^ssh-ed25519 \S+ ros-rollback-lab\n$/);
    expect(statSync(a.identityFile).mode & 0o077).toBe(0);
    await ensureLabSshKey(keyDir);
    expect(readFileSync(`${a.identityFile}.pub`, "utf8")).toBe(pub);
  });

  it("a host key per robot, kept across ups; pinned under the robot's name and address", async () => {
    const pki = join(dir, "pki-r1");
    const key = await ensureHostKey(pki, "r1");
    const pub = readFileSync(`${key}.pub`, "utf8");
    expect(await ensureHostKey(pki, "r1")).toBe(key);
    expect(readFileSync(`${key}.pub`, "utf8")).toBe(pub);
    const other = readFileSync(`${await ensureHostKey(join(dir, "pki-r2"), "r2")}.pub`, "utf8");
    expect(other).not.toBe(pub);
    const [type, body] = pub.split(" ");
    expect(knownHostsLine("r1", "10.231.7.2", pub)).toBe(`r1,10.231.7.2 ${type} ${body}\n`);
  });

  it("ssh options: the lab key only, strict host key checking against the robot's name, no prompts", () => {
    const o = sshOptions("r1", "/k/id", "/r/known_hosts");
    expect(o.join(" ")).toBe(
      "-i /k/id -o IdentitiesOnly=yes -o UserKnownHostsFile=/r/known_hosts -o StrictHostKeyChecking=yes -o HostKeyAlias=r1 -o BatchMode=yes",
    );
    // Nothing that changes the transfer (cipher, compression, multiplexing) is set.
    expect(o.join(" ")).not.toMatch(/Cipher|Compression|Control|MACs/);
  });

  it("writes the robot's sshd files and enables the unit; without ssh, the unit is not enabled", async () => {
    const root = join(dir, "root");
    const hostKey = await ensureHostKey(join(dir, "pki-r3"), "r3");
    writeSshFiles(root, true, { hostKey, clientPublicKey: "ssh-ed25519 AAAA lab\n" });
    const wants = join(root, "etc/systemd/system/multi-user.target.wants/ssh.service");
    expect(readlinkSync(wants)).toBe("/lib/systemd/system/ssh.service");
    expect(readFileSync(join(root, "root/.ssh/authorized_keys"), "utf8")).toBe("ssh-ed25519 AAAA lab\n");
    expect(statSync(join(root, "root/.ssh")).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, "etc/ssh/ssh_host_ed25519_key")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(root, "etc/ssh/ssh_host_ed25519_key"))).toEqual(readFileSync(hostKey));
    expect(readFileSync(join(root, "etc/ssh/sshd_config.d/lab.conf"), "utf8")).toContain(
      "PasswordAuthentication no",
    );
    writeSshFiles(root, true, { hostKey, clientPublicKey: "ssh-ed25519 AAAA lab\n" }); // again: idempotent
    writeSshFiles(root, false);
    expect(() => lstatSync(wants)).toThrow(/ENOENT/);
  });
});

import { status } from "@grpc/grpc-js";
import type { AuditEntry } from "@ros-rollback/proto";
import { beforeEach, describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";
import { parseSince } from "./audit.js";

const DENIED: AuditEntry = {
  time: "2026-12-01T03:00:00.000Z",
  rpc: "Activate",
  subject: "CN=reader\\u000aCN=evil, O=fleet [sha256 AB:CD:…]",
  fingerprint: "AB:CD",
  peer: "ipv4:10.0.0.9:51000",
  admission: "denied",
  role: "deploy",
  outcome: "PermissionDenied",
  detail: "permission denied",
  argsJson: '{"storePath":"/nix/store/x-system"}',
};
const ADMITTED: AuditEntry = { ...DENIED, subject: "CN=ops", admission: "allowed", role: "", outcome: "OK" };

const rig = useCliRig({ name: "audit" });
beforeEach(() =>
  rig.reset(() => ({
    getAuditLog: () => ({ entries: [DENIED, ADMITTED], skippedLines: 1, truncated: false }),
  })),
);

const cli = (argv: string[]) => rig.run([...argv, "--inventory", rig.inventory, "--connect-timeout", "3"]);

describe("audit", () => {
  it("prints the robot's entries, one per line, escaped; --since is sent as Unix ms", async () => {
    const r = await cli(["audit", "robot1", "--since", "2026-12-01T02:00:00Z"]);
    expect(r.code).toBe(0);
    expect(rig.agent.calls.map((c) => c.request)).toEqual([
      { sinceUnixMs: Date.UTC(2026, 11, 1, 2), limit: 0 },
    ]);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("robot1: 2 audit entries");
    expect(lines[1]).toMatch(
      /Activate +DENIED \(lacks deploy\) +CN=reader\\u000aCN=evil, O=fleet .* from ipv4:10\.0\.0\.9:51000/,
    );
    expect(lines[2]).toMatch(/Activate +OK +CN=ops/);
    expect(lines[3]).toMatch(/1 unreadable line/);
  });

  it("--json: the entries with their arguments parsed", async () => {
    const r = await cli(["audit", "robot1", "--json"]);
    const j = JSON.parse(r.stdout) as { entries: { args: unknown; role?: string }[]; skippedLines: number };
    expect(j.entries[0]?.args).toEqual({ storePath: "/nix/store/x-system" });
    expect(j.entries[1]?.role).toBeUndefined();
    expect(j.skippedLines).toBe(1);
  });

  it("a bad --since is a one-line usage error before any call; a refusal by the robot is one line, exit 1", async () => {
    const bad = await cli(["audit", "robot1", "--since", "yesterday\u001b[2J"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--since: expected a time/);
    expect(bad.stderr).not.toContain("\u001b");
    expect(rig.agent.calls).toEqual([]);
    rig.agent.handlers.getAuditLog = () => ({
      error: { code: status.PERMISSION_DENIED, details: 'permission denied to CN=x: it lacks role "read"' },
    });
    const r = await cli(["audit", "robot1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/lacks role "read"/);
  });

  it("parses ages and times", () => {
    expect(parseSince("15m", 1_000_000_000)).toBe(1_000_000_000 - 900_000);
    expect(parseSince("2026-12-01T00:00:00Z", 0)).toBe(Date.UTC(2026, 11, 1));
    expect(() => parseSince("-5m", 0)).toThrow(/--since/);
  });
});

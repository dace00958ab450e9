import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LAB_DIR, REPO_ROOT, robotPaths } from "./config.js";

describe("lab up --vm on a host without QEMU", () => {
  it("one lab: line naming what is missing, exit 1, no robot state", () => {
    const name = "vm-nohost";
    // QEMU and mtools live in /usr/bin: a PATH without it is a host without them.
    const r = spawnSync(process.execPath, ["--import", "tsx", join(LAB_DIR, "cli.ts"), "up", name, "--vm"], {
      cwd: REPO_ROOT,
      env: { PATH: "/nonexistent" },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^lab: up --vm needs qemu-system-x86_64, qemu-img, .*setup-host\.sh$/);
    expect(existsSync(robotPaths(name).dir)).toBe(false);
  });
});

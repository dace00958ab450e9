// nix/print-build-lock.sh: the package-lock.json the Nix build hands to fetchNpmDeps, from which
// anyone recomputes npmDepsHash. It must be nix/build-lock.nix's trimmed lock with the URLs of npm's
// built-in registry, whatever the caller's own npm config says (the build sandbox has none).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "./config.js";

type Entry = { resolved?: string; integrity?: string; link?: boolean };
type Lock = { packages: Record<string, Entry> };

const home = mkdtempSync(join(tmpdir(), "ros-rollback-build-lock-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

// Reserved names (never resolvable): a caller whose npm config points at some other registry.
writeFileSync(join(home, ".npmrc"), "registry=https://userconfig.invalid/\n");
const callerEnv = {
  ...process.env,
  HOME: home,
  npm_config_registry: "https://env.invalid/",
  NIX_CONFIG: "build-users-group =",
};

function printBuildLock(...args: string[]): string {
  return execFileSync("bash", [join(REPO_ROOT, "nix/print-build-lock.sh"), ...args], {
    cwd: home,
    env: callerEnv,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

const trimmed = JSON.parse(
  execFileSync(
    "nix-instantiate",
    [
      "--eval",
      "--strict",
      "--json",
      "--expr",
      "((import ./nix/build-lock.nix).fromFiles ./package.json ./package-lock.json).lock",
    ],
    { cwd: REPO_ROOT, env: callerEnv, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  ),
) as Lock;

describe("nix/print-build-lock.sh", () => {
  const printed = JSON.parse(printBuildLock()) as Lock;

  it("is nix/build-lock.nix's lock with a tarball URL added to every registry entry, nothing else", () => {
    expect(Object.keys(printed.packages)).toEqual(Object.keys(trimmed.packages));
    expect(Object.keys(printed.packages)).not.toContain("node_modules/@biomejs/biome");
    for (const [k, before] of Object.entries(trimmed.packages)) {
      const { resolved, ...rest } = printed.packages[k] as Entry;
      const { resolved: resolvedBefore, ...restBefore } = before;
      expect(rest, k).toEqual(restBefore);
      if (k.includes("node_modules/") && !before.link && before.integrity !== undefined) {
        expect(resolved, k).toMatch(/^https:\/\/[^/]+\/.+\.tgz$/);
      } else {
        expect(resolved, k).toBe(resolvedBefore);
      }
    }
  });

  it("uses npm's built-in registry, not the caller's environment or ~/.npmrc", () => {
    const origins = new Set(
      Object.values(printed.packages)
        .filter((e) => !e.link && e.resolved !== undefined)
        .map((e) => new URL(e.resolved as string).origin),
    );
    expect(origins.size).toBe(1);
    expect([...origins][0]).not.toMatch(/\.invalid$/);
  });

  it("--digest prints the sha256 of the trimmed lock as compact JSON (keys sorted, as Nix writes it)", () => {
    const digest = createHash("sha256").update(JSON.stringify(trimmed)).digest("hex");
    expect(printBuildLock("--digest")).toBe(`${digest}\n`);
  });
});

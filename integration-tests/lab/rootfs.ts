import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CACHE_DIR, LAB_DIR, STATE_DIR } from "./config.js";
import { LabError, run } from "./proc.js";

/** Installed into the minbase rootfs (ROS 1 minimal set, Nix, tools the fixtures and bench use). */
export const ROOTFS_PACKAGES = [
  "nix-bin",
  "python3-roslaunch",
  "python3-rosmaster",
  "python3-rospy",
  "python3-rostopic",
  "ros-std-msgs",
  "rosout",
  "iproute2",
  "zstd",
  "procps",
  // sshd for `up --ssh` (the bench's ssh pipes and `nix copy --to ssh://`); off unless asked.
  "openssh-server",
] as const;

const BUILD_SCRIPT = join(LAB_DIR, "build-rootfs.sh");

/** Changes whenever the package list or the build script does. */
export function rootfsKey(): string {
  const hash = createHash("sha256");
  hash.update(ROOTFS_PACKAGES.join("\n"));
  hash.update("\0");
  hash.update(readFileSync(BUILD_SCRIPT));
  return hash.digest("hex").slice(0, 16);
}

export const rootfsPath = (): string => join(CACHE_DIR, `rootfs-${rootfsKey()}`);

export interface RootfsOptions {
  signal?: AbortSignal;
  /** Bound for a cold build, including the wait for another process's build. Default 20 min. */
  timeoutMs?: number;
  log?: (line: string) => void;
}

/** Returns the cached rootfs, building it first if needed (minutes; needs Debian's mirror). */
export async function ensureRootfs(opts: RootfsOptions = {}): Promise<string> {
  const path = rootfsPath();
  if (existsSync(path)) return path;
  mkdirSync(CACHE_DIR, { recursive: true });
  const logFile = join(CACHE_DIR, "build.log");
  opts.log?.(`lab: building the robot rootfs ${path} (a few minutes, once; log: ${logFile})`);
  writeFileSync(logFile, "");
  const timeoutMs = opts.timeoutMs ?? 20 * 60_000;
  const started = Date.now();
  const lock = join(CACHE_DIR, "build.lock");
  await run(
    "flock",
    ["-w", String(Math.ceil(timeoutMs / 1000)), lock, BUILD_SCRIPT, path, ...ROOTFS_PACKAGES],
    {
      timeoutMs,
      signal: opts.signal,
      onOutput: (chunk) => appendFileSync(logFile, chunk),
    },
  ).catch((e: unknown) => {
    throw new LabError(
      `rootfs build failed (log: ${logFile}): ${e instanceof Error ? e.message : String(e)}`,
      {
        cause: e,
      },
    );
  });
  opts.log?.(`lab: rootfs built in ${Math.round((Date.now() - started) / 1000)} s`);
  await pruneRootfs(path, opts);
  return path;
}

/** Deletes older rootfs builds that no robot uses as its lower layer. */
async function pruneRootfs(keep: string, opts: RootfsOptions): Promise<void> {
  const robots = join(STATE_DIR, "robots");
  const used = new Set(
    (existsSync(robots) ? readdirSync(robots) : []).map((r) => {
      const lower = join(robots, r, "lower");
      return existsSync(lower) ? readFileSync(lower, "utf8").trim() : "";
    }),
  );
  for (const entry of readdirSync(CACHE_DIR)) {
    const path = join(CACHE_DIR, entry);
    if (!/^rootfs-[0-9a-f]{16}$/.test(entry) || path === keep || used.has(path)) continue;
    opts.log?.(`lab: removing unused ${path}`);
    await run("rm", ["-rf", "--one-file-system", path], { timeoutMs: 120_000, check: false });
  }
}

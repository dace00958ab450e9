// The robot's own Nix importing a closure whose stream is already inside it: no host, no network,
// no agent. What a transfer cannot beat while it imports the same way. The stream is staged in
// the robot's /tmp (a tmpfs: no disk writeback during the timing) untimed, and removed after.
import { spawn } from "node:child_process";
import { Readable } from "node:stream";
import type { PathInfo } from "@ros-rollback/proto";
import { readNars } from "../../controller/src/push/nar-source.js";
import { labExec } from "../../integration-tests/lab/index.js";
import { serveImportStream } from "./serve-stream.js";

const STAGED = "/tmp/bench-floor.stream";
const TIMEOUT_MS = 600_000;
const HOST_NIX = { ...process.env, NIX_CONFIG: "build-users-group =" };

async function inRobot(robot: string, script: string, what: string): Promise<string> {
  const r = await labExec(robot, ["sh", "-c", script], { timeoutMs: TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`${what} in ${robot} failed (exit ${r.code}): ${r.stderr.slice(-400)}`);
  return r.stdout;
}

/** Writes `stream` to STAGED in the robot, checks its size, runs `timed` on it, removes it. */
async function withStaged(
  robot: string,
  stream: AsyncIterable<Buffer>,
  timed: () => Promise<FloorTime>,
): Promise<FloorTime> {
  let bytes = 0;
  let failed: unknown;
  // labExec ends cat's input at an error of ours without failing: kept here, thrown below.
  const counted = async function* () {
    try {
      for await (const b of stream) {
        bytes += b.length;
        yield b;
      }
    } catch (e) {
      failed = e;
      throw e;
    }
  };
  try {
    const r = await labExec(robot, ["sh", "-c", `cat > ${STAGED}`], {
      input: Readable.from(counted()),
      timeoutMs: TIMEOUT_MS,
    });
    if (failed !== undefined) throw new Error(`making the stream for ${robot} failed`, { cause: failed });
    if (r.code !== 0) throw new Error(`staging the stream in ${robot} failed (exit ${r.code})`);
    const size = Number((await inRobot(robot, `stat -c %s ${STAGED}`, "stat")).trim());
    if (size !== bytes || bytes === 0) throw new Error(`staged ${size} bytes of ${bytes} in ${robot}`);
    return await timed();
  } finally {
    await labExec(robot, ["rm", "-f", STAGED]).catch(() => undefined);
  }
}

/** What a floor took: wall seconds (from the host) and the CPU of `cat` and nix in the robot. */
export interface FloorTime {
  seconds: number;
  cpuSeconds: number;
}

/** Times `cat STAGED | CMD` in the robot; then every path must be valid there (untimed). */
async function timedImport(robot: string, command: string, paths: readonly string[]): Promise<FloorTime> {
  const t0 = performance.now();
  // bash's `time` of the subshell: user and system seconds of cat and nix together.
  const r = await labExec(
    robot,
    ["bash", "-c", `TIMEFORMAT='%U %S'; time (cat ${STAGED} | ${command} >/dev/null)`],
    { timeoutMs: TIMEOUT_MS },
  );
  const seconds = (performance.now() - t0) / 1000;
  if (r.code !== 0)
    throw new Error(`${command} in ${robot} failed (exit ${r.code}): ${r.stderr.slice(-400)}`);
  const [user, sys] = (r.stderr.trim().split("\n").at(-1) ?? "").split(" ").map(Number);
  if (user === undefined || sys === undefined || !Number.isFinite(user + sys)) {
    throw new Error(`no CPU times from bash's time in ${robot}: ${r.stderr.slice(-200)}`);
  }
  const quoted = paths.map((p) => `'${p}'`).join(" ");
  await inRobot(robot, `nix-store --check-validity ${quoted}`, "nix-store --check-validity");
  return { seconds, cpuSeconds: user + sys };
}

/** `nix-store --import` reading the closure's export from a pipe, inside the robot. */
export function importFloor(robot: string, paths: readonly string[]): Promise<FloorTime> {
  return withStaged(robot, exportStream(paths), () => timedImport(robot, "nix-store --import", paths));
}

/** `nix-store --serve --write` fed the agent's cmdAddToStoreNar stream from a pipe, inside the robot. */
export function serveFloor(robot: string, infos: readonly PathInfo[]): Promise<FloorTime> {
  const stream = serveImportStream(
    infos,
    readNars(infos, { env: HOST_NIX }, AbortSignal.timeout(TIMEOUT_MS)),
  );
  const paths = infos.map((i) => i.storePath);
  return withStaged(robot, stream, () => timedImport(robot, "nix-store --serve --write", paths));
}

/** The host's `nix-store --export PATHS`, failing if it does. */
async function* exportStream(paths: readonly string[]): AsyncGenerator<Buffer> {
  const child = spawn("nix-store", ["--export", ...paths], {
    stdio: ["ignore", "pipe", "inherit"],
    env: HOST_NIX,
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  for await (const b of child.stdout) yield b as Buffer;
  const code = await exited;
  if (code !== 0) throw new Error(`nix-store --export failed (exit ${code})`);
}

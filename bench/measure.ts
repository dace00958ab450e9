// One measurement each: our push (per compression) and the export | import pipe, same robot, same closure.
import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import type { AgentClient, PathInfo, PushPathsRequest, PushPathsResponse } from "@ros-rollback/proto";
import { Compression } from "@ros-rollback/proto";
import { pushRequests } from "../controller/src/closure/index.js";

import { labExec } from "../integration-tests/lab/index.js";

export type Variant = "pipe" | "push-none" | "push-zstd" | "push-auto";
export const VARIANTS: readonly Variant[] = ["pipe", "push-none", "push-zstd", "push-auto"];

const COMPRESSION = {
  "push-none": Compression.COMPRESSION_NONE,
  "push-zstd": Compression.COMPRESSION_ZSTD,
  "push-auto": "auto",
} as const;

const sink = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

/** Seconds for `nix-store --export PATHS | (in the robot) nix-store --import`, streamed. */
async function pipe(robot: string, paths: readonly string[]): Promise<number> {
  const t0 = performance.now();
  const exporter = spawn("nix-store", ["--export", ...paths], { stdio: ["ignore", "pipe", "inherit"] });
  const r = await labExec(robot, ["nix-store", "--import"], {
    input: exporter.stdout,
    output: { stdout: sink(), stderr: process.stderr },
    timeoutMs: 600_000,
  });
  if (r.code !== 0) throw new Error(`nix-store --import in ${robot} failed (exit ${r.code})`);
  return (performance.now() - t0) / 1000;
}

export function send(
  client: AgentClient,
  requests: AsyncIterable<PushPathsRequest>,
): Promise<PushPathsResponse> {
  return new Promise((resolve, reject) => {
    const call = client.pushPaths((err, res) => (err ? reject(err) : resolve(res)));
    (async () => {
      for await (const r of requests) {
        if (!call.write(r)) await new Promise((ok) => call.once("drain", ok));
      }
      call.end();
    })().catch((e: unknown) => {
      call.cancel();
      reject(e);
    });
  });
}

/** The requests as they pass, the NarChunk bytes (compressed, if the push is) given to `count`. */
export async function* countChunks(
  requests: AsyncIterable<PushPathsRequest>,
  count: (bytes: number) => void,
): AsyncGenerator<PushPathsRequest> {
  for await (const r of requests) {
    if (r.item?.$case === "chunk") count(r.item.value.data.length);
    yield r;
  }
}

export interface Measured {
  readonly seconds: number;
  /** With auto: the compression chosen. */
  readonly chose?: string;
  /** Push variants: NarChunk bytes sent. */
  readonly wireBytes?: number;
}

/** Seconds for our PushPaths of the (signed) infos; the compression auto chose, if auto. */
async function push(
  client: AgentClient,
  infos: PathInfo[],
  compression: Compression | "auto",
): Promise<Measured> {
  let chose: string | undefined;
  let wireBytes = 0;
  const t0 = performance.now();
  const res = await send(
    client,
    countChunks(
      pushRequests(
        infos,
        { compression, onCompression: (c) => (chose = Compression[c.compression]) },
        AbortSignal.timeout(600_000),
      ),
      (n) => (wireBytes += n),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  if (res.imported.length !== infos.length) {
    throw new Error(`agent imported ${res.imported.length} of ${infos.length} paths`);
  }
  return { seconds, chose, wireBytes };
}

export async function measure(
  variant: Variant,
  ctx: { robot: string; client: AgentClient; infos: PathInfo[] },
): Promise<Measured> {
  if (variant === "pipe")
    return {
      seconds: await pipe(
        ctx.robot,
        ctx.infos.map((i) => i.storePath),
      ),
    };
  return push(ctx.client, ctx.infos, COMPRESSION[variant]);
}

/** Deletes the closure in the robot so the next variant starts from nothing. */
export async function forget(robot: string, paths: readonly string[]): Promise<void> {
  const r = await labExec(robot, ["nix-store", "--delete", ...paths], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`nix-store --delete in ${robot}: ${r.stderr.trim().split("\n").at(-1)}`);
}

/** The agent's VmRSS and VmHWM (peak) in bytes. */
export async function agentMemory(robot: string): Promise<{ rss: number; peak: number }> {
  const pid = (
    await labExec(robot, ["systemctl", "show", "-p", "MainPID", "--value", "ros-rollback-agent"])
  ).stdout.trim();
  const status = (await labExec(robot, ["cat", `/proc/${pid}/status`])).stdout;
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

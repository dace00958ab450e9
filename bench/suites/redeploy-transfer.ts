// The transfer of a redeploy's missing paths alone, side by side: our QueryMissingPaths + PushPaths
// (compression auto, as deploy's default), `nix-store --export MISSING | nix-store --import`, and
// `nix copy --to ssh://` of the new toplevel (it finds what is missing itself, as push does).
import type { AgentClient, PathInfo } from "@ros-rollback/proto";
import { pushRequests } from "../../controller/src/push/push-requests.js";
import { labExec } from "../../integration-tests/lab/index.js";
import { run } from "../../integration-tests/lab/proc.js";
import { sendPush } from "../../integration-tests/support/controller.js";
import type { Target } from "../links/index.js";
import { directPipe } from "../variants/pipe.js";
import { countChunks } from "../variants/push.js";
import { nixCopy } from "../variants/ssh.js";

export interface Transfer {
  readonly seconds: number;
  /** Bytes that crossed the link: NarChunk data for the push, the export stream for the pipe; nix-copy: not counted. */
  readonly bytes?: number;
  /** Paths the variant moved into the robot. */
  readonly paths: number;
}

export const TRANSFERS = ["push", "pipe", "nix-copy"] as const;
export type TransferVariant = (typeof TRANSFERS)[number];

export interface TransferContext {
  readonly client: AgentClient;
  /** The robot's own addresses (nix-copy's sshd). */
  readonly target: Target;
  readonly toplevel: string;
  /** The new system's closure, signed. */
  readonly closure: PathInfo[];
  readonly missing: readonly string[];
}

function queryMissing(client: AgentClient, storePaths: string[]): Promise<string[]> {
  return new Promise((resolve, reject) =>
    client.queryMissingPaths({ storePaths }, (e, r) => (e ? reject(e) : resolve(r.missing))),
  );
}

/** Our push as deploy does it: ask what is missing among the whole closure, push only that. */
async function push(client: AgentClient, closure: PathInfo[]): Promise<Transfer> {
  const t0 = performance.now();
  const missing = new Set(
    await queryMissing(
      client,
      closure.map((i) => i.storePath),
    ),
  );
  const infos = closure.filter((i) => missing.has(i.storePath));
  let bytes = 0;
  const requests = pushRequests(infos, { compression: "auto" }, AbortSignal.timeout(300_000));
  const res = await sendPush(
    client,
    countChunks(requests, (n) => (bytes += n)),
  );
  if (res.imported.length !== infos.length) {
    throw new Error(`agent imported ${res.imported.length} of ${infos.length} paths`);
  }
  return { seconds: (performance.now() - t0) / 1000, bytes, paths: infos.length };
}

/** The pipe, given the missing paths (it does not find them itself: an advantage over push). */
async function pipe(robotPid: number, missing: readonly string[]): Promise<Transfer> {
  const t0 = performance.now();
  await directPipe(robotPid, missing, 300_000);
  const seconds = (performance.now() - t0) / 1000;
  // Counted after the clock, so nothing of ours sits in the timed pipeline.
  const size = await run("bash", ["-c", 'nix-store --export "$@" | wc -c', "bench", ...missing], {
    env: { ...process.env, NIX_CONFIG: "build-users-group =" },
  });
  return { seconds, bytes: Number(size.stdout.trim()), paths: missing.length };
}

/** `nix copy --to ssh://root@robot TOPLEVEL`, as a user types it; then checks the missing paths arrived. */
async function copy(ctx: TransferContext): Promise<Transfer> {
  const seconds = await nixCopy(ctx.target, [ctx.toplevel]);
  const r = await labExec(ctx.target.robot, ["nix-store", "--check-validity", ...ctx.missing]);
  if (r.code !== 0) throw new Error(`nix copy left paths missing in ${ctx.target.robot}`);
  return { seconds, paths: ctx.missing.length };
}

export function transfer(v: TransferVariant, ctx: TransferContext): Promise<Transfer> {
  switch (v) {
    case "push":
      return push(ctx.client, ctx.closure);
    case "pipe":
      return pipe(ctx.target.robotPid, ctx.missing);
    case "nix-copy":
      return copy(ctx);
  }
}

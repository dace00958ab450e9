import type { PathInfo, SubstituteProgress } from "@ros-rollback/proto";
import { AgentCallError } from "../agent-api/call-error.js";
import type { AgentApi } from "../agent-api.js";
import { UserError } from "../core/errors.js";
import { formatBytes, formatDuration } from "../report/progress.js";
import type { PushSummary, SubstituteSummary, Transfer, TransferProgress } from "../transfer/transfer.js";
import type { PushTransfer } from "./push-transfer.js";

export const TRANSFER_MODES = ["auto", "push", "substitute"] as const;
export type TransferMode = (typeof TRANSFER_MODES)[number];

export interface CacheTransferOptions {
  /** auto: substitute what the robot's caches have, push the rest (and whatever substitution failed on). */
  readonly mode: "auto" | "substitute";
  /** Pushes what is left (auto). */
  readonly push: PushTransfer;
  readonly log: (line: string) => void;
  readonly now: () => number;
  readonly progress: (target: string) => TransferProgress;
}

/**
 * The robot fetches from its OWN caches (the agent's `substituters`; we
 * never name one): ask which missing paths they hold, have the agent
 * substitute those (Nix checks the signatures), push only the rest.
 */
export class CacheTransfer implements Transfer {
  constructor(private readonly o: CacheTransferOptions) {}

  async ensurePaths(
    api: AgentApi,
    closure: readonly PathInfo[],
    signal: AbortSignal,
    report: (summary: PushSummary) => void,
    asked?: Promise<string[]>,
  ): Promise<PushSummary> {
    const { o } = this;
    const target = api.target.name;
    const all = closure.map((p) => p.storePath);
    const missing = await (asked ?? api.queryMissingPaths(all, signal));
    let sub: SubstituteSummary = {
      pathsSubstitutable: 0,
      pathsSubstituted: 0,
      narBytesSubstituted: 0,
      seconds: 0,
      fallback: null,
      unreachable: [],
    };
    const withSub = (s: PushSummary): PushSummary => ({ ...s, substituted: sub });
    let left = missing;
    if (missing.length > 0) {
      const answer = await this.ask(api, missing, signal);
      const cached = answer.paths.map((p) => p.storePath);
      sub = { ...sub, pathsSubstitutable: cached.length, unreachable: answer.unreachable };
      for (const why of answer.unreachable)
        o.log(`${target}: a cache could not be asked: ${why.slice(0, 300)}`);
      if (o.mode === "substitute" && cached.length < missing.length) {
        throw new UserError(
          `${target}: ${missing.length - cached.length} of ${missing.length} missing paths are in none of the robot's caches` +
            " (--transfer substitute pushes nothing; --transfer auto would push them)",
        );
      }
      if (cached.length > 0) {
        o.log(`${target}: ${cached.length} of ${missing.length} missing paths are in the robot's caches`);
        sub = await this.substitute(api, cached, sub, signal);
        // Ask again: what substitution fetched (even partly, before a failure) is not pushed.
        left = await api.queryMissingPaths(all, signal);
      }
    }
    if (o.mode === "substitute" && left.length > 0) {
      throw new UserError(`${target}: ${left.length} paths still missing after substituting`);
    }
    const pushed = await o.push.pushMissing(api, closure, left, signal, (s) => report(withSub(s)));
    return withSub(pushed);
  }

  /** The agent's answer; in auto mode an agent without the RPC (older) has no caches. */
  private async ask(api: AgentApi, missing: string[], signal: AbortSignal) {
    try {
      return await api.querySubstitutable(missing, signal);
    } catch (e) {
      if (this.o.mode === "substitute" || !(e instanceof UserError) || signal.aborted) throw e;
      // auto: an older agent (UNIMPLEMENTED) has no caches; any other failure means push.
      if (!(e instanceof AgentCallError && e.statusName === "UNIMPLEMENTED")) {
        this.o.log(`${api.target.name}: cannot ask the robot's caches, pushing: ${e.message.slice(0, 300)}`);
      }
      return { paths: [], unreachable: [] };
    }
  }

  private async substitute(
    api: AgentApi,
    paths: string[],
    sub: SubstituteSummary,
    signal: AbortSignal,
  ): Promise<SubstituteSummary> {
    const { o } = this;
    const target = api.target.name;
    const progress = o.progress(target);
    const started = o.now();
    let last: SubstituteProgress | undefined;
    try {
      for await (const p of api.substitute(paths, signal)) {
        last = p;
        progress.update({
          bytesSent: p.narBytesDone,
          bytesTotal: p.narBytesTotal,
          pathsSent: p.pathsDone,
          pathsTotal: p.pathsTotal,
        });
      }
      if (last?.done !== true)
        throw new UserError(`${target}: the agent ended Substitute before it was done`);
      progress.finish();
    } catch (e) {
      progress.interrupt();
      if (signal.aborted || o.mode === "substitute") throw e;
      if (!(e instanceof UserError)) throw e;
      const why = e instanceof AgentCallError ? `${e.statusName}: ${e.details}` : e.message;
      o.log(`${target}: substituting failed, pushing instead: ${why.slice(0, 300)}`);
      return { ...sub, fallback: why.slice(0, 2_000), seconds: (o.now() - started) / 1000 };
    }
    const seconds = (o.now() - started) / 1000;
    const done = last.pathsTotal - last.pathsAlreadyValid;
    o.log(
      `${target}: the robot substituted ${done} paths (${formatBytes(last.narBytesTotal)}) from its caches in ${formatDuration(seconds)}`,
    );
    return { ...sub, pathsSubstituted: done, narBytesSubstituted: last.narBytesTotal, seconds };
  }
}

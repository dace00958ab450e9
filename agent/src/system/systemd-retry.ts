import { setTimeout as delay } from "node:timers/promises";
import { AgentError } from "../errors.js";
import { type CommandRunner, commandFailed, type RunOptions } from "./command.js";

/** The waits before each new question to systemd: 7.75 s in all. */
export const SYSTEMD_RETRY_DELAYS_MS: readonly number[] = [250, 500, 1000, 2000, 4000];

/**
 * systemd drops calls as it finishes a boot or reloads ("Failed to get properties: Connection
 * reset by peer"; systemd issues #6517, #16670), so a call that exited non-zero is asked again.
 */
export interface SystemdRetry {
  readonly delaysMs: readonly number[];
  /** Rejects when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Told before each wait: why, and how long (the agent logs it as a warning). */
  onRetry(message: string): void;
}

export function systemdRetry(
  onRetry: (message: string) => void,
  delaysMs: readonly number[] = SYSTEMD_RETRY_DELAYS_MS,
): SystemdRetry {
  return { delaysMs, onRetry, sleep: (ms, signal) => delay(ms, undefined, { signal }) };
}

/**
 * Runs a systemctl / systemd-run call and insists on exit 0, asking again after each of the
 * retry's waits while it exits non-zero; then the last failure is thrown. A call that timed out
 * or was aborted (the runner throws) is not asked again: that is no dropped answer. `tookEffect`,
 * when given, is asked after each wait, before the call runs again: true means the failed call
 * did its work anyway and only its answer was lost.
 */
export async function askSystemd(
  runner: CommandRunner,
  argv: readonly string[],
  options: RunOptions,
  retry: SystemdRetry,
  tookEffect?: () => Promise<boolean>,
): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const r = await runner.run(argv, options);
    if (r.code === 0) return r.stdout;
    const failure = commandFailed(argv, r);
    const wait = retry.delaysMs[attempt];
    if (wait === undefined) throw failure;
    if (options.signal?.aborted) throw aborted(argv, failure);
    retry.onRetry(`${failure.message}; asking systemd again in ${wait} ms`);
    await retry.sleep(wait, options.signal).catch((e: unknown) => {
      throw aborted(argv, e);
    });
    if (tookEffect !== undefined && (await tookEffect())) return "";
  }
}

function aborted(argv: readonly string[], cause: unknown): AgentError {
  return new AgentError("ABORTED", `${argv[0]} was aborted before systemd was asked again`, { cause });
}

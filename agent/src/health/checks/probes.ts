import { withDeadline } from "../../abort/with-deadline.js";
import { isAgentError } from "../../errors.js";
import type { CommandRunner } from "../../system/command.js";
import type { ExecSpec, HttpSpec } from "../spec.js";
import { describeError } from "./types.js";
import type { Verdict } from "./units.js";

/** Runs the probe's argv (no shell); exit status 0 is healthy. Bounded by the probe's timeout. */
export async function execProbe(
  runner: CommandRunner,
  spec: ExecSpec,
  signal: AbortSignal,
): Promise<Verdict> {
  const what = `exec ${spec.name}`;
  try {
    const r = await runner.run(spec.argv, { timeoutMs: spec.timeoutSeconds * 1000, signal });
    if (r.code === 0) return { healthy: true, reason: `${what} exited 0` };
    const tail = lastLine(r.stderr) || lastLine(r.stdout);
    return { healthy: false, reason: `${what} exited ${r.code}${tail ? `: ${tail}` : ""}` };
  } catch (e) {
    if (isAgentError(e) && e.code === "TIMEOUT")
      return { healthy: false, reason: `${what} timed out after ${spec.timeoutSeconds} s` };
    return { healthy: false, reason: `${what}: ${describeError(e)}` };
  }
}

function lastLine(s: string): string {
  const lines = s.trim().split("\n");
  return (lines[lines.length - 1] ?? "").slice(0, 200);
}

export type Fetch = (url: string, init: { signal: AbortSignal; redirect: "manual" }) => Promise<Response>;

/** GETs the URL (redirects not followed) and compares the status; the body is discarded. */
export async function httpProbe(fetchFn: Fetch, spec: HttpSpec, signal: AbortSignal): Promise<Verdict> {
  const what = `http ${spec.name}`;
  const deadline = withDeadline(signal, spec.timeoutSeconds * 1000);
  try {
    const res = await fetchFn(spec.url, { signal: deadline.signal, redirect: "manual" });
    await res.body?.cancel().catch(() => {});
    if (res.status === spec.expectStatus) return { healthy: true, reason: `${what} returned ${res.status}` };
    return {
      healthy: false,
      reason: `${what} GET ${spec.url} returned ${res.status} (expected ${spec.expectStatus})`,
    };
  } catch (e) {
    if (deadline.timedOut())
      return { healthy: false, reason: `${what} GET ${spec.url} timed out after ${spec.timeoutSeconds} s` };
    return { healthy: false, reason: `${what} GET ${spec.url} failed: ${describeError(e)}` };
  } finally {
    deadline.clear();
  }
}

// The controller CLI's --json stdout, read as what a command answers. A command that failed prints
// its error as JSON too (controller core/render.ts: `{"error": {"message", "exitCode", …}}`).
import type { CliRun } from "./controller.js";

/** The error document's message; undefined for an answer (a deploy report has an `error` of its own). */
function errorMessage(doc: unknown): string | undefined {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return undefined;
  if (Object.keys(doc).join() !== "error") return undefined;
  const { error } = doc as { error: { message?: unknown; exitCode?: unknown } | null };
  return typeof error?.message === "string" && typeof error.exitCode === "number" ? error.message : undefined;
}

/**
 * stdout's JSON as T. The CLI's error document is not a T: read as a status it has no
 * `lastDeployment` (a status asked while the robot reboots looked like a robot that forgot its
 * last deployment), so it throws with the CLI's message, as does a run with no JSON.
 */
export function cliJson<T>(run: CliRun): T {
  if (run.json === undefined)
    throw new Error(`no JSON on stdout (exit ${run.code}): ${run.stderr.slice(-2000)}`);
  const failed = errorMessage(run.json);
  if (failed !== undefined)
    throw new Error(`the command failed (exit ${run.code}): ${failed.slice(0, 2000)}`);
  return run.json as T;
}

import type { OptionSpec, RawArgs } from "../../core/command.js";
import { UsageError } from "../../core/errors.js";
import type { Amount, Strategy } from "../../report/strategy.js";
import { WAIT_ONLINE_OPTION } from "./online.js";
import { DEFAULT_STRATEGY, parseAmount } from "./strategy.js";

/** `deploy` options that matter with several targets (a rollout). */
export const FLEET_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  canary: {
    type: "string",
    valueName: "N",
    description: "several targets: the first N robots go alone first; any failure there stops the rollout",
  },
  batch: {
    type: "string",
    valueName: "N|P%",
    description: "several targets: robots per wave after the canary (default: all the rest)",
  },
  "max-parallel": {
    type: "string",
    valueName: "N",
    description: `several targets: transfers at once (default ${DEFAULT_STRATEGY.maxParallel})`,
  },
  "max-failures": {
    type: "string",
    valueName: "N|P%",
    description: "several targets: abort once more robots than this failed (default 0: the first failure)",
  },
  "min-sample": {
    type: "string",
    valueName: "N",
    description: "several targets: judge --max-failures only once N robots finished (default 0)",
  },
  pause: {
    type: "string",
    valueName: "SECONDS",
    description: "several targets: wait this long between waves (default 0)",
  },
  "rollback-on-abort": {
    type: "boolean",
    description: "several targets: on abort, robots this rollout moved go back to their previous generation",
  },
  strict: {
    type: "boolean",
    description: "several targets: unreachable or refusing robots count as failures (default: skipped)",
  },
  // Not part of the strategy (the label): like --wait-for-release, each run says it again.
  ...WAIT_ONLINE_OPTION,
};

export function parseStrategy(raw: RawArgs, command: string): Strategy {
  const text = (k: string) => {
    const v = raw.values[k];
    return typeof v === "string" ? v : undefined;
  };
  const count = (k: string, fallback: number, min: number) => {
    const v = text(k);
    if (v === undefined) return fallback;
    if (!/^\d{1,9}$/.test(v) || Number(v) < min) {
      throw new UsageError(
        `--${k}: expected a whole number (${min} or more), got "${v.slice(0, 40)}"`,
        command,
      );
    }
    return Number(v);
  };
  const amount = (k: string, fallback: Amount, allowZero: boolean) => {
    const v = text(k);
    return v === undefined ? fallback : parseAmount(v, k, command, allowZero);
  };
  return {
    canary: count("canary", DEFAULT_STRATEGY.canary, 0),
    batch: amount("batch", DEFAULT_STRATEGY.batch, false),
    maxParallel: count("max-parallel", DEFAULT_STRATEGY.maxParallel, 1),
    maxFailures: amount("max-failures", DEFAULT_STRATEGY.maxFailures, true),
    minSample: count("min-sample", DEFAULT_STRATEGY.minSample, 0),
    pauseSeconds: count("pause", DEFAULT_STRATEGY.pauseSeconds, 0),
    rollbackOnAbort: raw.values["rollback-on-abort"] === true,
    strict: raw.values.strict === true,
  };
}

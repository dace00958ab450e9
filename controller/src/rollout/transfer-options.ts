import { choice, refuseOptions } from "../core/args.js";
import type { OptionSpec, RawArgs } from "../core/command.js";
import { UsageError } from "../core/errors.js";
import { TRANSFER_MODES, type TransferMode } from "./cache-transfer.js";

/** deploy's and `rollout resume`'s --transfer and --upload-to. */
export const TRANSFER_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  transfer: {
    type: "string",
    valueName: "MODE",
    description: [
      "auto | push | substitute (default: auto). auto: the robot fetches from its own binary caches",
      "(the agent's `substituters`) what they hold, the rest is pushed, as is whatever a cache fails",
      "on; substitute: caches only (exit 1 if they lack a path or fail); push: push only.",
    ].join("\n"),
  },
  "upload-to": {
    type: "string",
    valueName: "STORE_URI",
    description:
      "upload the closure once to this binary cache (any `nix copy --to` store URI: file://DIR,\n" +
      "s3://…, http(s)://… where writable), signed with --sign-key, before the robots substitute it",
  },
};

export interface TransferArgs {
  readonly transfer: TransferMode;
  readonly uploadTo: string | undefined;
}

/**
 * --transfer (default auto) and --upload-to, which needs the robots to
 * substitute; else a usage error. substitute pushes nothing: --compress (and
 * --sign-key, unless it signs the upload) would do nothing, so they are refused.
 */
export function parseTransferArgs(raw: RawArgs, command: string): TransferArgs {
  const transfer = choice(raw, "transfer", [...TRANSFER_MODES] as TransferMode[], "auto", command);
  const uploadTo = typeof raw.values["upload-to"] === "string" ? raw.values["upload-to"] : undefined;
  if (uploadTo === "") throw new UsageError("--upload-to: expected a store URI", command);
  if (uploadTo !== undefined && transfer === "push") {
    throw new UsageError(
      "--upload-to uploads for the robots to substitute; it needs --transfer auto or substitute",
      command,
    );
  }
  if (transfer === "substitute") {
    refuseOptions(
      raw,
      uploadTo === undefined ? ["compress", "sign-key"] : ["compress"],
      "--transfer substitute pushes nothing",
      command,
    );
  }
  return { transfer, uploadTo };
}

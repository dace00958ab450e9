import { resolve } from "node:path";
import type { CommandContext } from "../context/command.js";
import type { Transfer, TransferProgress } from "../transfer/transfer.js";
import { CacheTransfer, type TransferMode } from "./cache-transfer.js";
import type { DeploySpec } from "./deploy-job.js";
import { PushTransfer } from "./push-transfer.js";
import { UploadFirst } from "./upload-first.js";

/** The transfer --transfer and --upload-to ask for; `progress` draws one robot's transfer. */
export function makeTransfer(
  ctx: CommandContext,
  spec: DeploySpec,
  progress: (target: string, what: "push" | "substitute") => TransferProgress,
): Transfer {
  const signKeyFile = spec.signKey === undefined ? undefined : resolve(ctx.io.cwd, spec.signKey);
  const push = new PushTransfer({
    closure: ctx.deps.closure,
    compression: spec.compression,
    signKeyFile,
    log: ctx.log,
    now: ctx.io.now,
    progress: (target) => progress(target, "push"),
  });
  const mode: TransferMode = spec.transfer;
  const transfer =
    mode === "push"
      ? push
      : new CacheTransfer({
          mode,
          push,
          log: ctx.log,
          now: ctx.io.now,
          progress: (target) => progress(target, "substitute"),
        });
  if (spec.uploadTo === undefined) return transfer;
  return new UploadFirst(transfer, {
    closure: ctx.deps.closure,
    storeUri: spec.uploadTo,
    signKeyFile,
    log: ctx.log,
    now: ctx.io.now,
  });
}

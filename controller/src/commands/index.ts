import type { CommandDef } from "../context/command.js";
import { auditCommand } from "./audit.js";
import { confirmCommand } from "./confirm.js";
import { deployCommand } from "./deploy.js";
import { gcCommand } from "./gc.js";
import { generationsCommand } from "./generations.js";
import { healthCommand } from "./health.js";
import { holdCommand, releaseCommand } from "./holds.js";
import { planCommand } from "./plan.js";
import { rollbackCommand } from "./rollback.js";
import { rolloutCommand } from "./rollout.js";
import { statusCommand } from "./status.js";
import { watchCommand } from "./watch.js";

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly CommandDef[] = [
  deployCommand,
  planCommand,
  confirmCommand,
  watchCommand,
  healthCommand,
  statusCommand,
  generationsCommand,
  gcCommand,
  rollbackCommand,
  rolloutCommand,
  holdCommand,
  releaseCommand,
  auditCommand,
];

import type { CommandDef } from "../core/command.js";
import { deployCommand } from "./deploy.js";
import { generationsCommand } from "./generations.js";
import { rollbackCommand } from "./rollback.js";
import { statusCommand } from "./status.js";

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly CommandDef[] = [
  deployCommand,
  statusCommand,
  generationsCommand,
  rollbackCommand,
];

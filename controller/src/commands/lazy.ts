import type { CommandDef } from "../context/command.js";

type Loader = readonly [name: string, load: () => Promise<CommandDef>];

/**
 * Each command's module, imported only when that command runs: loading every
 * command (and the rollout code behind it) cost start-up time (issue 13).
 * Same commands and order as COMMANDS (commands/index.ts; a test checks).
 */
const LOADERS: readonly Loader[] = [
  ["deploy", async () => (await import("./deploy.js")).deployCommand],
  ["plan", async () => (await import("./plan.js")).planCommand],
  ["confirm", async () => (await import("./confirm.js")).confirmCommand],
  ["watch", async () => (await import("./watch.js")).watchCommand],
  ["health", async () => (await import("./health.js")).healthCommand],
  ["status", async () => (await import("./status.js")).statusCommand],
  ["generations", async () => (await import("./generations.js")).generationsCommand],
  ["gc", async () => (await import("./gc.js")).gcCommand],
  ["rollback", async () => (await import("./rollback.js")).rollbackCommand],
  ["rollout", async () => (await import("./rollout.js")).rolloutCommand],
  ["hold", async () => (await import("./holds.js")).holdCommand],
  ["release", async () => (await import("./holds.js")).releaseCommand],
  ["audit", async () => (await import("./audit.js")).auditCommand],
];

/** The command named `name` alone; every command when there is no such command (help, usage errors). */
export async function loadCommands(name: string | undefined): Promise<readonly CommandDef[]> {
  const one = LOADERS.filter(([n]) => n === name);
  return Promise.all((one.length > 0 ? one : LOADERS).map(([, load]) => load()));
}

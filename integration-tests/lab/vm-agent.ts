// How the VM robot runs the agent: the one-file bundle (agent/bundle.mjs) instead of tsc's dist/
// tree, since under TCG Node's loading of hundreds of modules was most of the agent's start.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { AGENT_CONFIG, APP_DIR, NODE_BIN, REPO_ROOT } from "./config.js";
import { LabError, run } from "./proc.js";
import { writeFile } from "./robot-files.js";

const BUNDLE = "agent/dist/bundle/agent.mjs";
/** What the bundle is made of: tsc's output of the agent and the workspaces it imports. */
const INPUTS = ["agent/dist", "proto/dist", "nix-core/dist"];

function newestJs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith(".js"))
      newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

/** Rebuilds the bundle when it is missing or older than the dist/ it is made of (a `tsc -b` alone). */
export async function ensureAgentBundle(signal?: AbortSignal): Promise<void> {
  const bundle = join(REPO_ROOT, BUNDLE);
  const inputs = INPUTS.map((d) => join(REPO_ROOT, d));
  const missing = inputs.find((d) => !existsSync(d));
  if (missing !== undefined) throw new LabError(`${missing} does not exist: run npm run build`);
  if (existsSync(bundle) && statSync(bundle).mtimeMs >= Math.max(...inputs.map(newestJs))) return;
  await run("flock", [join(REPO_ROOT, "agent/dist"), process.execPath, join(REPO_ROOT, "agent/bundle.mjs")], {
    timeoutMs: 120_000,
    signal,
  });
}

/** A drop-in in the VM's root: the agent's unit as for a container, started from the bundle. */
export function writeAgentDropIn(root: string, unit: string): void {
  writeFile(
    join(root, "etc/systemd/system", `${unit}.d`, "vm-bundle.conf"),
    `[Service]\nExecStart=\nExecStart=${NODE_BIN} ${APP_DIR}/${BUNDLE} --config ${AGENT_CONFIG}\n`,
  );
}

import { loadConfig } from "./config/load.js";
import { preflight } from "./config/preflight.js";
import type { Config } from "./config/schema.js";
import { FileRecordStore } from "./deployment/record-file.js";

/**
 * Everything the agent needs to start, checked before anything acts: the
 * config, the files it names, and the deployment record. A refusal
 * (StartupError) leaves the robot and every file as they were.
 */
export async function checkStartup(
  configFile: string,
): Promise<{ config: Config; records: FileRecordStore }> {
  const config = await loadConfig(configFile);
  await preflight(config);
  const records = new FileRecordStore(config.stateDir);
  await records.load();
  return { config, records };
}

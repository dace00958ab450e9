// Asking the lab relay which robots are connected (its `POST /robots`, as `status --all` does).
import { readFileSync } from "node:fs";
import type { RobotState } from "@ros-rollback/proto/relay";
import { RelayClient } from "../../controller/src/relay/dial.js";
import { LabError, poll } from "./proc.js";
import { RELAY_CONTROLLER_PORT } from "./relay-layout.js";
import { ensureRelayPki } from "./relay-pki.js";

/** The relay's view of these robots (connected, since, last seen). */
export async function relayQuery(
  names: readonly string[],
  timeoutMs = 5_000,
): Promise<readonly RobotState[]> {
  const pki = await ensureRelayPki();
  const client = new RelayClient({
    address: `127.0.0.1:${RELAY_CONTROLLER_PORT}`,
    ca: readFileSync(pki.relayCa),
    cert: readFileSync(pki.operator.certFile),
    key: readFileSync(pki.operator.keyFile),
  });
  try {
    return await client.query(names, timeoutMs);
  } catch (e) {
    throw new LabError(`lab relay: ${(e as Error).message}`.slice(0, 300), { cause: e });
  } finally {
    client.close();
  }
}

/** Waits until robot `name` is connected to the lab relay (its agent dialed out). */
export async function waitForRelayRobot(
  name: string,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const connected = async (): Promise<true | undefined> => {
    const states = await relayQuery([name]).catch(() => []);
    return states.some((s) => s.name === name && s.connected) ? true : undefined;
  };
  await poll(`robot ${name}: connected to the lab relay`, connected, {
    timeoutMs: opts.timeoutMs ?? 30_000,
    intervalMs: 250,
    signal: opts.signal,
  });
}

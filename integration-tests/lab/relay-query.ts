// Asking the lab relay which robots are connected (its `query` frame, as `status --all` does).
import { readFileSync } from "node:fs";
import { connect } from "node:tls";
import { encodeRelayFrame, type RobotState, readRelayHeader } from "@ros-rollback/proto/relay";
import { LabError, poll } from "./proc.js";
import { RELAY_CONTROLLER_PORT } from "./relay-layout.js";
import { ensureRelayPki } from "./relay-pki.js";

/** The relay's view of these robots (connected, since, last seen). */
export async function relayQuery(
  names: readonly string[],
  timeoutMs = 5_000,
): Promise<readonly RobotState[]> {
  const pki = await ensureRelayPki();
  const socket = connect({
    host: "127.0.0.1",
    port: RELAY_CONTROLLER_PORT,
    ca: readFileSync(pki.relayCa),
    cert: readFileSync(pki.operator.certFile),
    key: readFileSync(pki.operator.keyFile),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    socket.write(encodeRelayFrame({ t: "query", robots: names }));
    const answer = await readRelayHeader(socket, timeoutMs);
    if (answer.t !== "robots") throw new LabError(`lab relay: answered ${String(answer.t).slice(0, 20)}`);
    return answer.robots;
  } catch (e) {
    if (e instanceof LabError) throw e;
    throw new LabError(`lab relay: ${(e as Error).message}`.slice(0, 300), { cause: e });
  } finally {
    socket.destroy();
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

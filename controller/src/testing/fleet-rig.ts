import { type Hold, HoldSource, type PushPathsRequest, type PushPathsResponse } from "@ros-rollback/proto";
import type { ClosureOps } from "../closure/port.js";
import { virtualClock } from "./capture-io.js";
import { type CliRig, type CliRun, useCliRig } from "./cli-rig.js";
import type { FakeAgent, FakeCall } from "./fake-agent.js";

/** The hold the fleet tests' held robots hold. */
export const MISSION: Hold = {
  name: "mission",
  source: HoldSource.HOLD_SOURCE_FILE,
  reason: "executing waypoint 3",
  sinceUnixMs: 0,
  expiresAtUnixMs: 0,
};

/** A PushPaths handler: every path received is imported (and passed to `onImported`). */
export function importAll(
  onImported: (paths: string[]) => void = () => {},
): (received: PushPathsRequest[]) => PushPathsResponse {
  return (received) => {
    const imported = received.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : []));
    onImported(imported);
    return { imported, skipped: [], narBytes: 0 };
  };
}

/**
 * The fleet (rollout) tests' set-up: one fake agent per named robot on a real
 * grpc-js server with mutual TLS on 127.0.0.1:0, an inventory naming them (the
 * CLI rig's), and the CLI in-process against it.
 */
export class FleetRig {
  constructor(
    readonly rig: CliRig,
    readonly names: readonly string[],
  ) {}

  get inventory(): string {
    return this.rig.inventory;
  }

  agent(name: string): FakeAgent {
    const a = this.rig.agents[this.names.indexOf(name)];
    if (a === undefined) throw new Error(`no robot ${name}`);
    return a;
  }

  calls(name: string, method: string): FakeCall[] {
    return this.agent(name).calls.filter((c) => c.method === method);
  }

  /** main(argv --inventory … --connect-timeout 3), on a virtual clock unless `realClock`. */
  cli(
    argv: readonly string[],
    o: { closure?: ClosureOps; tty?: boolean; realClock?: boolean } = {},
  ): Promise<CliRun> {
    const clock = o.realClock === true ? undefined : virtualClock();
    return this.rig.run([...argv, "--inventory", this.inventory, "--connect-timeout", "3"], {
      closure: o.closure,
      tty: o.tty,
      columns: 200,
      now: clock?.now,
      sleep: clock?.sleep,
    });
  }
}

/** A FleetRig started before the file's tests and closed after them. */
export function useFleetRig(name: string, names: readonly string[]): FleetRig {
  const rig = useCliRig({
    name,
    agents: names.length,
    targets: (r) =>
      Object.fromEntries(
        names.map((n, i) => [
          n,
          r.robot({ address: `127.0.0.1:${r.agents[i]?.port}`, serverName: "localhost" }),
        ]),
      ),
  });
  return new FleetRig(rig, names);
}

import { afterEach, beforeEach, expect } from "vitest";
import { type CliRig, type CliRun, useCliRig } from "./cli-rig.js";
import type { FakeCall } from "./fake-agent.js";
import { pathInfo } from "./fake-closure.js";
import { type SimOptions, SimulatedAgent } from "./simulated-agent.js";

/** What the simulated-agent tests deploy: a system whose paths the robot has. */
export const SIM_SYSTEM = pathInfo("nixos-system-robot1", 3 * 1024, []);

/**
 * The CLI rig (testing/cli-rig.ts) with the fake network in front of one fake
 * agent that robot1 and robot2 both name, driven by a SimulatedAgent: the
 * agent's behaviour on short timers.
 */
export class SimRig {
  readonly rig: CliRig;
  #sim: SimulatedAgent | undefined;

  constructor(rig: CliRig) {
    this.rig = rig;
  }

  /** Before each test: no simulation, nothing called, the network up with its counts at 0. */
  reset(): void {
    this.#sim = undefined;
    this.rig.reset();
    this.rig.net.up();
    Object.assign(this.rig.net, { accepted: 0, refused: 0 });
  }

  /** After each test: lets a simulated deployment that outlived it end before the next one starts. */
  async settle(): Promise<void> {
    // (A simulation that never activated has nothing to wait for.)
    if (this.#sim?.request !== undefined)
      await Promise.race([this.#sim.done, new Promise((r) => setTimeout(r, 2_000))]);
    this.rig.net.up();
  }

  /** The test's simulation (simulate() first). */
  get sim(): SimulatedAgent {
    if (this.#sim === undefined) throw new Error("simulate() first");
    return this.#sim;
  }

  /** A new simulation on the agent, which has every path. */
  simulate = (options: SimOptions = {}): SimulatedAgent => {
    this.#sim = new SimulatedAgent(this.rig.agent, options);
    this.rig.agent.handlers.queryMissingPaths = () => [];
    return this.#sim;
  };

  cli = (argv: string[], options: { tty?: boolean } = {}): Promise<CliRun> =>
    this.rig.run(argv, { tty: options.tty, columns: 100 });

  target = (): string[] => this.rig.target("robot1", 2);

  deploy = (...extra: string[]): Promise<CliRun> =>
    this.cli(["deploy", SIM_SYSTEM.storePath, ...this.target(), "--json", ...extra]);

  callsOf = (method: string): FakeCall[] => this.rig.agent.calls.filter((c) => c.method === method);

  /** The one call of `method` (fails the test if there is not exactly one). */
  only = (method: string): FakeCall => {
    const calls = this.callsOf(method);
    expect(calls, method).toHaveLength(1);
    return calls[0] as FakeCall;
  };
}

/** A SimRig started before the file's tests, reset around each, and closed after them. */
export function useSimRig(name: string): SimRig {
  const rig = useCliRig({
    name,
    network: true,
    closure: [SIM_SYSTEM],
    targets: (r) => ({ robot1: r.robot(), robot2: r.robot() }),
  });
  const sim = new SimRig(rig);
  beforeEach(() => sim.reset());
  afterEach(() => sim.settle());
  return sim;
}

export const states = (doc: Record<string, unknown>): string[] =>
  (doc.events as { state: string }[]).map((e) => e.state);

export const healthLines = (stderr: string): string[] =>
  stderr.split("\n").filter((l) => /^robot1: \S+ health /.test(l));

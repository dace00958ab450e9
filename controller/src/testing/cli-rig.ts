import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PathInfo } from "@ros-rollback/proto";
import { afterAll, beforeAll } from "vitest";
import type { ClosureOps } from "../closure/port.js";
import type { Io } from "../core/io.js";
import { main } from "../main.js";
import { connectAgent } from "../push/transport/connect-agent.js";
import { captureIo } from "./capture-io.js";
import { type FakeAgent, type FakeHandlers, startFakeAgent } from "./fake-agent.js";
import { fakeClosure } from "./fake-closure.js";
import { type FakeNetwork, startFakeNetwork } from "./fake-network.js";
import { makeTestPki, type TestPki } from "./pki.js";

/**
 * The command tests' set-up, once: a temporary directory with a test PKI,
 * fake agents on real grpc-js servers with mutual TLS on 127.0.0.1:0 (and, if
 * asked, the fake network in front of the first), an inventory that points at
 * them, and `run` to call the CLI's main() with captured output.
 */
export interface CliRigOptions {
  /** Names the temporary directory. */
  readonly name: string;
  /** How many fake agents to start (default 1). */
  readonly agents?: number;
  /** A relay (testing/fake-network.ts) in front of the first agent; the default targets go through it. */
  readonly network?: boolean;
  /** The inventory's targets (default: robot1 at the first agent). */
  readonly targets?: (rig: CliRig) => Record<string, unknown>;
  /** The closure computeClosure returns when a run passes no `closure` (default: none). */
  readonly closure?: PathInfo[];
}

export interface RunOptions {
  readonly closure?: ClosureOps;
  readonly signal?: AbortSignal;
  readonly now?: () => number;
  readonly sleep?: Io["sleep"];
  readonly tty?: boolean;
  readonly columns?: number;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as one JSON document (throws when it is not one). */
  json: () => Record<string, unknown>;
}

export class CliRig {
  #dir: string | undefined;
  #pki: TestPki | undefined;
  #agents: FakeAgent[] = [];
  #net: FakeNetwork | undefined;
  #inventory: string | undefined;

  constructor(private readonly options: CliRigOptions) {}

  get dir(): string {
    return started(this.#dir);
  }
  get pki(): TestPki {
    return started(this.#pki);
  }
  get agents(): readonly FakeAgent[] {
    return this.#agents;
  }
  get agent(): FakeAgent {
    return started(this.#agents[0]);
  }
  get net(): FakeNetwork {
    return started(this.#net);
  }
  /** The inventory file written at start. */
  get inventory(): string {
    return started(this.#inventory);
  }

  async start(): Promise<void> {
    this.#dir = mkdtempSync(join(tmpdir(), `ros-rollback-${this.options.name}-`));
    this.#pki = makeTestPki(this.#dir);
    for (let i = 0; i < (this.options.agents ?? 1); i++) this.#agents.push(await startFakeAgent(this.#pki));
    if (this.options.network === true) this.#net = await startFakeNetwork(this.agent.port);
    const targets = this.options.targets?.(this) ?? { robot1: this.robot() };
    this.#inventory = this.writeInventory("fleet.json", targets);
  }

  async close(): Promise<void> {
    await this.#net?.close();
    for (const a of this.#agents) await a.close();
    if (this.#dir !== undefined) rmSync(this.#dir, { recursive: true, force: true });
  }

  /**
   * An inventory target with the rig's client certificate (paths relative to the
   * inventory), at the relay if there is one, else at the first agent.
   */
  robot(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const port = this.#net?.port ?? this.agent.port;
    return {
      address: `127.0.0.1:${port}`,
      caFile: "ca.pem",
      certFile: "client.pem",
      keyFile: "client.key",
      ...overrides,
    };
  }

  writeInventory(name: string, targets: Record<string, unknown>): string {
    const file = join(this.dir, name);
    writeFileSync(file, JSON.stringify({ targets }));
    return file;
  }

  /** `--inventory` (the rig's), `--target` and `--connect-timeout`. */
  target(name = "robot1", connectTimeoutSeconds = 3): string[] {
    return [
      "--inventory",
      this.inventory,
      "--target",
      name,
      "--connect-timeout",
      String(connectTimeoutSeconds),
    ];
  }

  /** Forgets every agent's calls and cancellations, and gives each `handlers`. */
  reset(handlers: () => FakeHandlers = () => ({})): void {
    for (const a of this.#agents) {
      a.handlers = handlers();
      a.calls.length = 0;
      a.cancelled.length = 0;
    }
  }

  /** The methods the first agent was called with, in order. */
  methods(): string[] {
    return this.agent.calls.map((c) => c.method);
  }

  /** main(argv) in the rig's directory, with the real gRPC client. */
  async run(argv: readonly string[], o: RunOptions = {}): Promise<CliRun> {
    const { io, stdout, stderr } = captureIo({
      cwd: this.dir,
      now: o.now,
      sleep: o.sleep,
      tty: o.tty,
      columns: o.columns,
    });
    const deps = { connect: connectAgent, closure: o.closure ?? fakeClosure(this.options.closure ?? []) };
    const code = await main([...argv], io, deps, o.signal ?? new AbortController().signal);
    return {
      code,
      stdout: stdout(),
      stderr: stderr(),
      json: () => oneJsonDocument(stdout()),
    };
  }
}

/** A JSON result must be the ONLY thing on stdout. */
function oneJsonDocument(stdout: string): Record<string, unknown> {
  try {
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`stdout is not one JSON document: ${JSON.stringify(stdout.slice(0, 500))}`, { cause: e });
  }
}

/** A rig started before the file's tests and closed after them. */
export function useCliRig(options: CliRigOptions): CliRig {
  const rig = new CliRig(options);
  beforeAll(() => rig.start());
  afterAll(() => rig.close());
  return rig;
}

function started<T>(v: T | undefined): T {
  if (v === undefined) throw new Error("the CLI rig is not started (use it inside a test or hook)");
  return v;
}

/** Polls `condition` until it holds; fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

// What run.ts gives a suite and gets back.
import type { LabRobot } from "../../integration-tests/lab/index.js";
import type { BenchOptions } from "../args.js";

export interface SuiteContext {
  /** A fresh lab robot (booted with sshd) for this suite alone; run.ts takes it down after. */
  readonly robot: LabRobot;
  readonly opts: BenchOptions;
  readonly log: (line: string) => void;
}

export interface SuiteResult {
  /** The suite's entry in bench/results/latest.json. */
  readonly json: Record<string, unknown>;
  /** Its markdown tables. */
  readonly text: string;
}

export type Suite = (ctx: SuiteContext) => Promise<SuiteResult>;

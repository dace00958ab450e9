// npm run bench [-- --only LINK,… --variants VARIANT,…]: the suites below, in order, on one fresh
// lab robot (booted with sshd); see bench/README.md.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { labDown, labUp, waitForAgent } from "../integration-tests/lab/index.js";
import { parseArgs, UsageError } from "./args.js";
import { agentMemory } from "./measure.js";
import { type SuiteContext, transfers } from "./transfers.js";

const log = (s: string) => process.stderr.write(`${s}\n`);

/** A suite measures one concern and returns its JSON (a key of latest.json) and its text. */
type Suite = (ctx: SuiteContext) => Promise<{ json: unknown; text: string }>;
const SUITES: Record<string, Suite> = { transfers };

const machine = () => ({ cpus: cpus().length, model: cpus()[0]?.model ?? "?", loadavg: loadavg() });

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2), process.env);
  const before = machine();
  const robot = await labUp(opts.robot, { log, ssh: true });
  try {
    await waitForAgent(opts.robot, { timeoutMs: 60_000 });
    const ctx: SuiteContext = { robot, opts, log };
    const idle = await agentMemory(opts.robot);
    const result: Record<string, unknown> = { when: new Date().toISOString(), machine: before };
    const text: string[] = [];
    for (const [name, suite] of Object.entries(SUITES)) {
      const r = await suite(ctx);
      result[name] = r.json;
      text.push(r.text);
    }
    const after = await agentMemory(opts.robot);
    result.agent = { idleRssMiB: idle.rss / 2 ** 20, peakRssMiB: after.peak / 2 ** 20 };
    result.machineAfter = machine();
    const m = before;
    process.stdout.write(
      `${text.join("\n\n")}\n\nagent RSS idle ${(idle.rss / 2 ** 20).toFixed(0)} MiB, peak ${(after.peak / 2 ** 20).toFixed(0)} MiB\n` +
        `machine: ${m.cpus} × ${m.model}, load ${m.loadavg.map((l) => l.toFixed(1)).join(" ")} before, ${machine()
          .loadavg.map((l) => l.toFixed(1))
          .join(" ")} after\n`,
    );
    mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
    writeFileSync(new URL("./results/latest.json", import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await labDown(opts.robot);
  }
}

main().catch((e: unknown) => {
  log(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = e instanceof UsageError ? 64 : 1;
});

// npm run bench -- [--suites SUITE,…] [--only LINK,…] [--variants VARIANT,…]; sizes and runs from
// the environment.
import { type ClosureKind, closureKinds } from "./closure.js";
import { LINKS, type LinkName } from "./links/names.js";
import { VARIANTS, type Variant } from "./variants/names.js";

export interface BenchOptions {
  /** The suites that run, in the registry's order. */
  suites: string[];
  robot: string;
  runs: number;
  /** transfers: the links and variants. */
  links: LinkName[];
  variants: Variant[];
  /** veth: per closure kind, `paths` paths, `mib` MiB in all. */
  veth: { paths: number; mib: number; kinds: ClosureKind[] };
  /** 20mbit: the same, smaller (every MiB costs 0.4 s per uncompressed variant and run). */
  slow: { paths: number; mib: number; rate: string; kinds: ClosureKind[] };
  /** rtt50: many small paths (where a round trip per path shows) and a few big ones. */
  rtt: { small: number; smallKib: number; big: number; bigMib: number; delayMs: number };
  /** redeploy: the payload system's paths and MiB in all. */
  deploy: { paths: number; mib: number };
  /** gc: MiB of each deployed system, old generations collected. */
  gc: { mib: number; generations: number };
  /** vm: runs (each boots the VM ~6 times under TCG: its own count, not BENCH_RUNS). */
  vmRuns: number;
}

export class UsageError extends Error {
  override name = "UsageError";
}

function num(env: NodeJS.ProcessEnv, name: string, dflt: number, min = 1): number {
  const text = env[name];
  const v = text === undefined || text === "" ? dflt : Number(text);
  if (!Number.isFinite(v) || v < min) throw new UsageError(`${name} must be a number ≥ ${min}`);
  return v;
}

const whole = (env: NodeJS.ProcessEnv, name: string, dflt: number, min = 1): number => {
  const v = num(env, name, dflt, min);
  if (!Number.isInteger(v)) throw new UsageError(`${name} must be a whole number`);
  return v;
};

function list<T extends string>(flag: string, text: string | undefined, all: readonly T[]): T[] {
  if (text === undefined || text.startsWith("--"))
    throw new UsageError(`${flag} wants a comma-separated list`);
  const items = text.split(",").filter((s) => s !== "");
  const bad = items.find((s) => !(all as readonly string[]).includes(s));
  if (bad !== undefined || items.length === 0) {
    throw new UsageError(`${flag}: unknown "${(bad ?? "").slice(0, 40)}"; choose from ${all.join(", ")}`);
  }
  // In the canonical order, once each.
  return all.filter((x) => items.includes(x));
}

function kinds(env: NodeJS.ProcessEnv, name: string, dflt: string): ClosureKind[] {
  try {
    return closureKinds(env[name] || dflt, name);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

/** `suites`: the registry's names, in the order they run. */
export function parseArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  suites: readonly string[],
): BenchOptions {
  if (env.BENCH_SUITES !== undefined) throw new UsageError("BENCH_SUITES is gone: use --suites");
  let links: LinkName[] = [...LINKS];
  let variants: Variant[] = [...VARIANTS];
  let chosen = [...suites];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--suites") chosen = list("--suites", argv[++i], suites);
    else if (a === "--only") links = list("--only", argv[++i], LINKS);
    else if (a === "--variants") variants = list("--variants", argv[++i], VARIANTS);
    else throw new UsageError(`unknown argument "${String(a).slice(0, 40)}"`);
  }
  const robot = env.BENCH_ROBOT ?? "pb-1";
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(robot)) throw new UsageError("BENCH_ROBOT: a lab robot name");
  const rate = env.BENCH_RATE ?? "20mbit";
  if (!/^\d+(\.\d+)?[kmg]?bit$/.test(rate)) throw new UsageError("BENCH_RATE: a tc rate like 20mbit");
  return {
    suites: chosen,
    robot,
    runs: whole(env, "BENCH_RUNS", 3),
    links,
    variants,
    veth: {
      paths: whole(env, "BENCH_PATHS", 200),
      mib: num(env, "BENCH_MB", 200),
      kinds: kinds(env, "BENCH_CLOSURE", "both"),
    },
    slow: {
      paths: whole(env, "BENCH_SLOW_PATHS", 10),
      mib: num(env, "BENCH_SLOW_MB", 30),
      rate,
      kinds: kinds(env, "BENCH_SLOW_CLOSURE", "binaries"),
    },
    rtt: {
      small: whole(env, "BENCH_RTT_PATHS", 200),
      smallKib: num(env, "BENCH_RTT_KB", 100),
      big: whole(env, "BENCH_RTT_BIG", 3, 0),
      bigMib: num(env, "BENCH_RTT_BIG_MB", 5),
      delayMs: num(env, "BENCH_DELAY_MS", 25, 0),
    },
    deploy: { paths: whole(env, "BENCH_DEPLOY_PATHS", 200), mib: num(env, "BENCH_DEPLOY_MB", 50) },
    gc: { mib: num(env, "BENCH_GC_MB", 150), generations: whole(env, "BENCH_GC_GENERATIONS", 10) },
    vmRuns: whole(env, "BENCH_VM_RUNS", 2),
  };
}

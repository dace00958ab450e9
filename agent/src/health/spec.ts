import { z } from "zod";
import { AgentError } from "../errors.js";

/**
 * The `health` section of the agent's JSON config, and what a deployment may
 * change in it. `healthConfigSchema` parses the raw section (every field has a
 * documented default); `compileHealthConfig` fills the defaults in and gives
 * the `HealthSpec` that the evaluator runs.
 */

/** Kinds of checks; a deploy may add checks only of the kinds the config lists in `deploy.allowAdd`. */
export const CHECK_KINDS = ["unit", "topic", "node", "exec", "http"] as const;
export type AddableKind = (typeof CHECK_KINDS)[number];

export const seconds = z.number().positive().finite();
const unitName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9:_.@\\-]*$/, "expected a systemd unit name");
export const topicName = z
  .string()
  .regex(/^\/[A-Za-z0-9_/~]*$/, "expected an absolute ROS name like /chatter");
const checkName = z.string().regex(/^[A-Za-z0-9_.-]+$/, "expected a name of letters, digits, _ . -");

export const unitSchema = z
  .object({
    name: unitName,
    /** Must be active (default true). A unit with `required: false` may be inactive, but not failed nor restarting. */
    required: z.boolean().optional(),
  })
  .strict();

export const topicSchema = z
  .object({
    /** Absolute topic name, e.g. `/chatter`. Any message type works. */
    name: topicName,
    /** Unhealthy when fewer messages per second arrive, averaged over `ros.rateWindowSeconds`. Default: no rate check. */
    minRateHz: seconds.optional(),
    /** Unhealthy when the last message is older than this (default 5). The primary liveness signal. */
    maxSilenceSeconds: seconds.optional(),
  })
  .strict();

export const execSchema = z
  .object({
    name: checkName,
    /** Program and arguments, run without a shell; exit status 0 means healthy. */
    argv: z.array(z.string()).min(1),
    /** Default: `checkTimeoutSeconds`. */
    timeoutSeconds: seconds.optional(),
  })
  .strict();

export const httpSchema = z
  .object({
    name: checkName,
    url: z.url({ protocol: /^https?$/ }),
    /** Default 200. */
    expectStatus: z.number().int().min(100).max(599).optional(),
    /** Default: `checkTimeoutSeconds`. */
    timeoutSeconds: seconds.optional(),
  })
  .strict();

export const healthConfigSchema = z
  .object({
    /** Seconds after the switch before rounds count (rounds run and are reported meanwhile). Default 5. */
    settleSeconds: z.number().min(0).finite().optional(),
    /** The system must be healthy in every round for this long. Default 30. */
    stableSeconds: seconds.optional(),
    /** Counted from the end of the settle time: no stable period by then means unhealthy. Default 300. */
    timeoutSeconds: seconds.optional(),
    /** Time between the starts of two rounds. Default 2. */
    intervalSeconds: seconds.optional(),
    /** Bound for one check when it has none of its own. Default 10. */
    checkTimeoutSeconds: seconds.optional(),
    systemd: z
      .object({
        /** Units to watch. Default none. */
        units: z.array(unitSchema).optional(),
        /** Units outside the list: `ignore` (default) or `failedIsUnhealthy` (any failed unit is unhealthy). */
        otherUnits: z.enum(["ignore", "failedIsUnhealthy"]).optional(),
        /** Failed units to ignore under `failedIsUnhealthy`; `*` matches any characters. Default none. */
        ignoreFailed: z.array(z.string().min(1)).optional(),
      })
      .strict()
      .optional(),
    /** ROS 1 checks; when present, the master must be reachable. */
    ros: z
      .object({
        /** Default `http://127.0.0.1:11311`. */
        masterUri: z.url({ protocol: /^http$/ }).optional(),
        /** The agent's own ROS node name. Default `/ros_rollback_health`. */
        nodeName: topicName.optional(),
        /** Address the agent's node advertises to publishers (ROS_IP). Default `127.0.0.1`. */
        advertiseIp: z.string().min(1).optional(),
        /** Bound for one call to the master or a publisher, and for starting the node. Default 3. */
        masterTimeoutSeconds: seconds.optional(),
        /** Window over which `minRateHz` is measured. Default 5. */
        rateWindowSeconds: seconds.optional(),
        /** Default none. */
        topics: z.array(topicSchema).optional(),
        /** Node names that must be registered with the master. Default none. */
        requiredNodes: z.array(topicName).optional(),
      })
      .strict()
      .optional(),
    /** Default none. */
    exec: z.array(execSchema).optional(),
    /** Default none. */
    http: z.array(httpSchema).optional(),
    /** What a deployment may change (see `mergeHealthSpec`). */
    deploy: z
      .object({
        /** Kinds of checks a deployment may add. Default `["unit", "topic", "node"]`: observation only; exec and http must be enabled explicitly. */
        allowAdd: z.array(z.enum(CHECK_KINDS)).optional(),
        /** Upper bound for a deployment's `settleSeconds` + `timeoutSeconds`. Default: the configured sum (no longer waits). */
        maxTotalSeconds: seconds.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type RawHealthConfig = z.input<typeof healthConfigSchema>;

export interface UnitSpec {
  readonly name: string;
  readonly required: boolean;
}
export interface TopicSpec {
  readonly name: string;
  readonly minRateHz: number | undefined;
  readonly maxSilenceSeconds: number;
}
export interface ExecSpec {
  readonly name: string;
  readonly argv: readonly string[];
  readonly timeoutSeconds: number;
}
export interface HttpSpec {
  readonly name: string;
  readonly url: string;
  readonly expectStatus: number;
  readonly timeoutSeconds: number;
}
export interface RosSpec {
  readonly masterUri: string;
  readonly nodeName: string;
  readonly advertiseIp: string;
  readonly masterTimeoutSeconds: number;
  readonly rateWindowSeconds: number;
  readonly topics: readonly TopicSpec[];
  readonly requiredNodes: readonly string[];
}

/** The health section with every default filled in; what the evaluator runs. */
export interface HealthSpec {
  readonly settleSeconds: number;
  readonly stableSeconds: number;
  readonly timeoutSeconds: number;
  readonly intervalSeconds: number;
  readonly checkTimeoutSeconds: number;
  readonly systemd: {
    readonly units: readonly UnitSpec[];
    readonly otherUnits: "ignore" | "failedIsUnhealthy";
    readonly ignoreFailed: readonly string[];
  };
  /** Undefined: no ROS checks at all. */
  readonly ros: RosSpec | undefined;
  readonly exec: readonly ExecSpec[];
  readonly http: readonly HttpSpec[];
  readonly deploy: { readonly allowAdd: readonly AddableKind[]; readonly maxTotalSeconds: number };
}

export const HEALTH_DEFAULTS = {
  settleSeconds: 5,
  stableSeconds: 30,
  timeoutSeconds: 300,
  intervalSeconds: 2,
  checkTimeoutSeconds: 10,
  otherUnits: "ignore",
  masterUri: "http://127.0.0.1:11311",
  nodeName: "/ros_rollback_health",
  advertiseIp: "127.0.0.1",
  masterTimeoutSeconds: 3,
  rateWindowSeconds: 5,
  maxSilenceSeconds: 5,
  expectStatus: 200,
  allowAdd: ["unit", "topic", "node"],
} as const;

/** Fills in defaults and refuses duplicate names (a check's name is its identity in reports and merges). */
export function compileHealthConfig(input: unknown): HealthSpec {
  const raw = healthConfigSchema.parse(input);
  const d = HEALTH_DEFAULTS;
  const checkTimeoutSeconds = raw.checkTimeoutSeconds ?? d.checkTimeoutSeconds;
  const settleSeconds = raw.settleSeconds ?? d.settleSeconds;
  const timeoutSeconds = raw.timeoutSeconds ?? d.timeoutSeconds;
  const spec: HealthSpec = {
    settleSeconds,
    stableSeconds: raw.stableSeconds ?? d.stableSeconds,
    timeoutSeconds,
    intervalSeconds: raw.intervalSeconds ?? d.intervalSeconds,
    checkTimeoutSeconds,
    systemd: {
      units: (raw.systemd?.units ?? []).map(compileUnit),
      otherUnits: raw.systemd?.otherUnits ?? d.otherUnits,
      ignoreFailed: raw.systemd?.ignoreFailed ?? [],
    },
    ros:
      raw.ros === undefined
        ? undefined
        : {
            masterUri: raw.ros.masterUri ?? d.masterUri,
            nodeName: raw.ros.nodeName ?? d.nodeName,
            advertiseIp: raw.ros.advertiseIp ?? d.advertiseIp,
            masterTimeoutSeconds: raw.ros.masterTimeoutSeconds ?? d.masterTimeoutSeconds,
            rateWindowSeconds: raw.ros.rateWindowSeconds ?? d.rateWindowSeconds,
            topics: (raw.ros.topics ?? []).map(compileTopic),
            requiredNodes: raw.ros.requiredNodes ?? [],
          },
    exec: (raw.exec ?? []).map((e) => compileExec(e, checkTimeoutSeconds)),
    http: (raw.http ?? []).map((h) => compileHttp(h, checkTimeoutSeconds)),
    deploy: {
      allowAdd: raw.deploy?.allowAdd ?? [...d.allowAdd],
      maxTotalSeconds: raw.deploy?.maxTotalSeconds ?? settleSeconds + timeoutSeconds,
    },
  };
  assertUnique(spec);
  if (spec.stableSeconds > spec.timeoutSeconds)
    throw new AgentError(
      "INVALID_ARGUMENT",
      `health: stableSeconds ${spec.stableSeconds} cannot fit in timeoutSeconds ${spec.timeoutSeconds}`,
    );
  return spec;
}

type RawUnit = z.output<typeof unitSchema>;
type RawTopic = z.output<typeof topicSchema>;
type RawExec = z.output<typeof execSchema>;
type RawHttp = z.output<typeof httpSchema>;

export function compileUnit(u: RawUnit): UnitSpec {
  return { name: u.name, required: u.required ?? true };
}
export function compileTopic(t: RawTopic): TopicSpec {
  return {
    name: t.name,
    minRateHz: t.minRateHz,
    maxSilenceSeconds: t.maxSilenceSeconds ?? HEALTH_DEFAULTS.maxSilenceSeconds,
  };
}
export function compileExec(e: RawExec, timeout: number): ExecSpec {
  return { name: e.name, argv: e.argv, timeoutSeconds: e.timeoutSeconds ?? timeout };
}
export function compileHttp(h: RawHttp, timeout: number): HttpSpec {
  return {
    name: h.name,
    url: h.url,
    expectStatus: h.expectStatus ?? HEALTH_DEFAULTS.expectStatus,
    timeoutSeconds: h.timeoutSeconds ?? timeout,
  };
}

function assertUnique(spec: HealthSpec): void {
  const lists: [string, readonly string[]][] = [
    ["unit", spec.systemd.units.map((u) => u.name)],
    ["topic", spec.ros?.topics.map((t) => t.name) ?? []],
    ["node", spec.ros?.requiredNodes ?? []],
    ["exec", spec.exec.map((e) => e.name)],
    ["http", spec.http.map((h) => h.name)],
  ];
  for (const [kind, names] of lists) {
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) throw new AgentError("INVALID_ARGUMENT", `health: ${kind} ${n} is listed twice`);
      seen.add(n);
    }
  }
}

/** Every check id the spec produces, in report order. */
export function checkIds(spec: HealthSpec): string[] {
  return [
    ...spec.systemd.units.map((u) => `unit:${u.name}`),
    ...(spec.systemd.otherUnits === "failedIsUnhealthy" ? ["units:failed"] : []),
    ...(spec.ros === undefined
      ? []
      : [
          "ros:master",
          ...spec.ros.requiredNodes.map((n) => `node:${n}`),
          ...spec.ros.topics.map((t) => `topic:${t.name}`),
        ]),
    ...spec.exec.map((e) => `exec:${e.name}`),
    ...spec.http.map((h) => `http:${h.name}`),
  ];
}

import { z } from "zod";
import { AgentError } from "../errors.js";
import {
  type AddableKind,
  checkIds,
  compileExec,
  compileHttp,
  compileTopic,
  compileUnit,
  execSchema,
  type HealthSpec,
  httpSchema,
  seconds,
  topicName,
  topicSchema,
  unitSchema,
} from "./spec.js";

/**
 * What one deployment asks for. Entries whose name is already configured
 * TIGHTEN that check; new names ADD a check (only of kinds in
 * `deploy.allowAdd`); `drop` removes checks by id (`unit:NAME`,
 * `topic:/NAME`, `node:/NAME`, `exec:NAME`, `http:NAME`, `ros:master`,
 * `units:failed`). Timing may be made stricter, and may only wait longer up
 * to `deploy.maxTotalSeconds`.
 */
export const perDeployHealthSchema = z
  .object({
    settleSeconds: z.number().min(0).finite().optional(),
    stableSeconds: seconds.optional(),
    timeoutSeconds: seconds.optional(),
    drop: z.array(z.string().min(1)).optional(),
    units: z.array(unitSchema).optional(),
    topics: z.array(topicSchema).optional(),
    requiredNodes: z.array(topicName).optional(),
    // argv and url are needed to add a check; tightening one by name may leave them out.
    exec: z.array(execSchema.partial({ argv: true })).optional(),
    http: z.array(httpSchema.partial({ url: true })).optional(),
  })
  .strict();

export type PerDeployHealth = z.input<typeof perDeployHealthSchema>;

/**
 * The spec for one deployment: `configured` narrowed or extended by
 * `perDeploy` within what the config allows. Pure; throws INVALID_ARGUMENT
 * (naming every violation) rather than silently clamping, so the operator
 * learns that the deploy asked for something the robot refuses.
 *
 * A field an entry for a configured check leaves out keeps its configured
 * value (not the default): `{"name": "/chatter", "minRateHz": 5}` keeps the
 * topic's `maxSilenceSeconds`. A new check gets the defaults.
 *
 * Tightening means: a unit may become required (not the reverse); a topic's
 * `minRateHz` may only rise and `maxSilenceSeconds` only fall; an exec/http
 * check's timeout may only fall (its argv/url/status may not change);
 * `stableSeconds` may only rise; `settleSeconds` + `timeoutSeconds` may not
 * exceed `deploy.maxTotalSeconds`.
 */
export function mergeHealthSpec(configured: HealthSpec, perDeploy: unknown): HealthSpec {
  const p = perDeployHealthSchema.parse(perDeploy ?? {});
  const problems: string[] = [];
  const allow = new Set(configured.deploy.allowAdd);
  const drop = new Set(p.drop ?? []);
  const known = new Set(checkIds(configured));
  for (const id of drop) if (!known.has(id)) problems.push(`cannot drop ${id}: no such check configured`);

  const units = mergeList(configured.systemd.units, p.units ?? [], "unit", allow, problems, {
    add: compileUnit,
    overlay: (old, r) => ({ name: old.name, required: r.required ?? old.required }),
    tighten: (old, neu) =>
      old.required && !neu.required ? [`unit ${old.name} may not become optional`] : [],
  });
  let ros = configured.ros;
  const addsRos = (p.topics?.length ?? 0) > 0 || (p.requiredNodes?.length ?? 0) > 0;
  if (ros === undefined && addsRos) {
    problems.push("cannot add ROS checks: the config has no ros section");
  } else if (ros !== undefined) {
    const topics = mergeList(ros.topics, p.topics ?? [], "topic", allow, problems, {
      add: compileTopic,
      overlay: (old, r) => ({
        name: old.name,
        minRateHz: r.minRateHz ?? old.minRateHz,
        maxSilenceSeconds: r.maxSilenceSeconds ?? old.maxSilenceSeconds,
      }),
      tighten: (old, neu) => {
        const out: string[] = [];
        if (old.minRateHz !== undefined && (neu.minRateHz === undefined || neu.minRateHz < old.minRateHz))
          out.push(`topic ${old.name}: minRateHz may only rise from ${old.minRateHz}`);
        if (neu.maxSilenceSeconds > old.maxSilenceSeconds)
          out.push(`topic ${old.name}: maxSilenceSeconds may only fall from ${old.maxSilenceSeconds}`);
        return out;
      },
    });
    const nodes = [...ros.requiredNodes];
    for (const n of p.requiredNodes ?? []) {
      if (nodes.includes(n)) continue;
      if (!allow.has("node"))
        problems.push(`cannot add node check ${n}: the config does not allow adding node checks`);
      else nodes.push(n);
    }
    ros = {
      ...ros,
      topics: topics.filter((t) => !drop.has(`topic:${t.name}`)),
      requiredNodes: nodes.filter((n) => !drop.has(`node:${n}`)),
    };
  }
  const exec = mergeList(configured.exec, p.exec ?? [], "exec", allow, problems, {
    add: ({ argv, ...e }) =>
      argv === undefined
        ? `cannot add exec check ${e.name}: argv is required`
        : compileExec({ ...e, argv }, configured.checkTimeoutSeconds),
    overlay: (old, r) => ({
      name: old.name,
      argv: r.argv ?? old.argv,
      timeoutSeconds: r.timeoutSeconds ?? old.timeoutSeconds,
    }),
    tighten: (old, neu) => {
      const out: string[] = [];
      if (JSON.stringify(old.argv) !== JSON.stringify(neu.argv))
        out.push(`exec ${old.name}: argv may not change`);
      if (neu.timeoutSeconds > old.timeoutSeconds)
        out.push(`exec ${old.name}: timeoutSeconds may only fall from ${old.timeoutSeconds}`);
      return out;
    },
  });
  const http = mergeList(configured.http, p.http ?? [], "http", allow, problems, {
    add: ({ url, ...h }) =>
      url === undefined
        ? `cannot add http check ${h.name}: url is required`
        : compileHttp({ ...h, url }, configured.checkTimeoutSeconds),
    overlay: (old, r) => ({
      name: old.name,
      url: r.url ?? old.url,
      expectStatus: r.expectStatus ?? old.expectStatus,
      timeoutSeconds: r.timeoutSeconds ?? old.timeoutSeconds,
    }),
    tighten: (old, neu) => {
      const out: string[] = [];
      if (old.url !== neu.url || old.expectStatus !== neu.expectStatus)
        out.push(`http ${old.name}: url and expectStatus may not change`);
      if (neu.timeoutSeconds > old.timeoutSeconds)
        out.push(`http ${old.name}: timeoutSeconds may only fall from ${old.timeoutSeconds}`);
      return out;
    },
  });

  const stableSeconds = p.stableSeconds ?? configured.stableSeconds;
  if (stableSeconds < configured.stableSeconds)
    problems.push(`stableSeconds may only rise from ${configured.stableSeconds}`);
  const settleSeconds = p.settleSeconds ?? configured.settleSeconds;
  const timeoutSeconds = p.timeoutSeconds ?? configured.timeoutSeconds;
  if (settleSeconds + timeoutSeconds > configured.deploy.maxTotalSeconds)
    problems.push(
      `settleSeconds + timeoutSeconds = ${settleSeconds + timeoutSeconds} exceeds deploy.maxTotalSeconds ${configured.deploy.maxTotalSeconds}`,
    );
  if (stableSeconds > timeoutSeconds)
    problems.push(`stableSeconds ${stableSeconds} cannot fit in timeoutSeconds ${timeoutSeconds}`);

  if (problems.length > 0)
    throw new AgentError("INVALID_ARGUMENT", `health spec refused: ${problems.join("; ")}`);

  return {
    ...configured,
    settleSeconds,
    stableSeconds,
    timeoutSeconds,
    systemd: {
      ...configured.systemd,
      units: units.filter((u) => !drop.has(`unit:${u.name}`)),
      otherUnits: drop.has("units:failed") ? "ignore" : configured.systemd.otherUnits,
    },
    // Without the master check, topics and nodes cannot be judged: dropping it drops every ROS check.
    ros: drop.has("ros:master") ? undefined : ros,
    exec: exec.filter((e) => !drop.has(`exec:${e.name}`)),
    http: http.filter((h) => !drop.has(`http:${h.name}`)),
  };
}

interface MergeRules<T, R> {
  /** A new check from the request (defaults filled in), or why it cannot be added. */
  add(raw: R): T | string;
  /** A configured check with the fields the request gives; the others keep their configured value. */
  overlay(old: T, raw: R): T;
  /** Why `neu` loosens `old`; empty when it only tightens. */
  tighten(old: T, neu: T): string[];
}

function mergeList<T extends { readonly name: string }, R extends { readonly name: string }>(
  configured: readonly T[],
  requested: readonly R[],
  kind: AddableKind,
  allow: ReadonlySet<AddableKind>,
  problems: string[],
  rules: MergeRules<T, R>,
): T[] {
  const out = [...configured];
  const seen = new Set<string>();
  for (const raw of requested) {
    if (seen.has(raw.name)) {
      problems.push(`${kind} ${raw.name} is listed twice`);
      continue;
    }
    seen.add(raw.name);
    const i = out.findIndex((c) => c.name === raw.name);
    const old = out[i];
    if (old === undefined) {
      const added = allow.has(kind)
        ? rules.add(raw)
        : `cannot add ${kind} check ${raw.name}: the config does not allow adding ${kind} checks`;
      if (typeof added === "string") problems.push(added);
      else out.push(added);
      continue;
    }
    const neu = rules.overlay(old, raw);
    const refused = rules.tighten(old, neu);
    if (refused.length > 0) problems.push(...refused);
    else out[i] = neu;
  }
  return out;
}

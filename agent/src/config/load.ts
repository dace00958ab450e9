import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { compileAccess } from "../access/policy.js";
import { compileBootConfig } from "../boot/config.js";
import { entriesProblem } from "../data/entry-rules.js";
import { AgentError, StartupError } from "../errors.js";
import { compileGcConfig } from "../gc/config.js";
import { compileHealthConfig } from "../health/index.js";
import { normaliseCacheUrl } from "../store/substituters.js";
import { type Config, DEFAULTS, rawConfigSchema } from "./schema.js";

/** Validates raw JSON and fills in defaults. Errors name the offending key. */
export function compileConfig(raw: unknown): Config {
  const parsed = rawConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
      if (issue.code === "unrecognized_keys") {
        const prefix = issue.path.length > 0 ? `${issue.path.join(".")}.` : "";
        return `unknown key ${issue.keys.map((k) => `"${prefix}${k}"`).join(", ")}`;
      }
      return `${key}: ${issue.message}`;
    });
    throw new AgentError("INVALID_ARGUMENT", `invalid config: ${lines.join("; ")}`);
  }
  const c = parsed.data;
  const insecure = c.insecure ?? false;
  if (c.listen === undefined && c.dialOut === undefined) {
    throw new AgentError("INVALID_ARGUMENT", "invalid config: listen: required unless dialOut names a relay");
  }
  if (c.dialOut !== undefined && (insecure || c.tls === undefined)) {
    throw new AgentError(
      "INVALID_ARGUMENT",
      "invalid config: dialOut: needs tls (a relay is reached over mutual TLS only)",
    );
  }
  const relays = (c.dialOut ?? []).map((d) => d.relay);
  const twice = relays.find((r, i) => relays.indexOf(r) !== i);
  if (twice !== undefined) {
    throw new AgentError("INVALID_ARGUMENT", `invalid config: dialOut: relay ${twice} is listed twice`);
  }
  if ((c.dialOut ?? []).some((d) => (d.certFile === undefined) !== (d.keyFile === undefined))) {
    throw new AgentError("INVALID_ARGUMENT", "invalid config: dialOut: certFile and keyFile go together");
  }
  if (insecure) {
    // Both set is a contradiction: refuse rather than silently serve plaintext.
    if (c.tls !== undefined) {
      throw new AgentError(
        "INVALID_ARGUMENT",
        "invalid config: insecure: true and tls are both set; remove one (tls for mutual TLS, insecure for plaintext on loopback)",
      );
    }
    if (c.listen !== undefined && !isLoopbackListen(c.listen)) {
      throw new AgentError(
        "INVALID_ARGUMENT",
        `invalid config: insecure: plaintext gRPC is allowed only on a loopback address, not "${c.listen}"`,
      );
    }
    if (c.access !== undefined) {
      throw new AgentError(
        "INVALID_ARGUMENT",
        "invalid config: access: roles come from client certificates, so they need tls, not insecure",
      );
    }
  } else if (c.tls === undefined) {
    throw new AgentError(
      "INVALID_ARGUMENT",
      "invalid config: tls: required unless insecure is true (loopback only)",
    );
  }
  const health = compileHealth(c.health);
  const conditions = c.holds?.conditions ?? [];
  if (health.ros === undefined && conditions.some((h) => h.kind === "topic")) {
    throw new AgentError(
      "INVALID_ARGUMENT",
      "invalid config: holds.conditions: a topic condition needs health.ros (the ROS master to ask)",
    );
  }
  const stateDir = c.stateDir ?? DEFAULTS.stateDir;
  const holdDir = c.holds?.dir ?? DEFAULTS.holdsDir;
  const data = (c.data ?? []).map((e) => ({ path: e.path, units: e.units ?? [] }));
  const dataProblem = entriesProblem(
    data.map((e, i) => ({ ...e, name: `data.${i}` })),
    { stateDir, holdDir },
  );
  if (dataProblem !== undefined) throw new AgentError("INVALID_ARGUMENT", `invalid config: ${dataProblem}`);
  const tls = c.tls;
  return {
    listen: c.listen,
    dialOut:
      tls === undefined
        ? []
        : (c.dialOut ?? []).map((d) => ({
            relay: d.relay,
            caFile: d.caFile ?? tls.caFile,
            certFile: d.certFile ?? tls.certFile,
            keyFile: d.keyFile ?? tls.keyFile,
          })),
    tls,
    insecure,
    access: compileAccess(c.access),
    trustedPublicKeys: c.trustedPublicKeys,
    substituters: [...new Set((c.substituters ?? []).map(normaliseCacheUrl))],
    profile: c.profile ?? DEFAULTS.profile,
    stateDir,
    storeDir: c.storeDir ?? DEFAULTS.storeDir,
    nixBinDir: c.nixBinDir,
    currentSystemLink: c.currentSystemLink ?? DEFAULTS.currentSystemLink,
    switchLockFile: c.switchLockFile ?? DEFAULTS.switchLockFile,
    activationTimeoutSeconds: c.activationTimeoutSeconds ?? DEFAULTS.activationTimeoutSeconds,
    autoRollback: c.autoRollback ?? DEFAULTS.autoRollback,
    magicRollback: c.magicRollback ?? DEFAULTS.magicRollback,
    agentUnit: c.agentUnit ?? DEFAULTS.agentUnit,
    confirmTimeoutSeconds: c.confirmTimeoutSeconds ?? DEFAULTS.confirmTimeoutSeconds,
    health,
    holds: { dir: holdDir, conditions },
    deleteFailedGenerations: c.deleteFailedGenerations ?? DEFAULTS.deleteFailedGenerations,
    data,
    dataSnapshotsKept: c.dataSnapshotsKept ?? DEFAULTS.dataSnapshotsKept,
    migrateTimeoutSeconds: c.migrateTimeoutSeconds ?? DEFAULTS.migrateTimeoutSeconds,
    dataReserveMiB: c.dataReserveMiB ?? DEFAULTS.dataReserveMiB,
    gc: compileGcConfig(c.gc),
    boot: compileBootConfig(c.boot),
    logLevel: c.logLevel ?? DEFAULTS.logLevel,
    logTarget: c.logTarget ?? DEFAULTS.logTarget,
    metrics:
      c.metrics?.enabled === false
        ? undefined
        : {
            listen: c.metrics?.listen ?? DEFAULTS.metricsListen,
            tls: c.metrics?.tls && { ...c.metrics.tls, caFile: c.metrics.tls.caFile },
          },
  };
}

function compileHealth(raw: unknown): ReturnType<typeof compileHealthConfig> {
  try {
    return compileHealthConfig(raw ?? {});
  } catch (e) {
    throw new AgentError("INVALID_ARGUMENT", `invalid config: health: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads, parses and validates the config file; every refusal is a StartupError naming the file. */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    throw new StartupError("CONFIG", `cannot read config ${file}: ${(cause as Error).message}`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new StartupError("CONFIG", `config ${file} is not JSON: ${(cause as Error).message}`, { cause });
  }
  try {
    return compileConfig(json);
  } catch (cause) {
    throw new StartupError("CONFIG", `config ${file}: ${(cause as Error).message}`, { cause });
  }
}

export function isLoopbackListen(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1";
  return false;
}

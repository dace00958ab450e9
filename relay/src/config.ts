import { readFile } from "node:fs/promises";

/** The relay's JSON config, as written (every key documented in relay/README.md). */
export interface RelayConfig {
  readonly robotListen: { readonly host: string; readonly port: number };
  readonly controllerListen: { readonly host: string; readonly port: number };
  /** Prometheus text at /metrics (and robots' at /robots/NAME/metrics); undefined: off. */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
  readonly tls: {
    readonly certFile: string;
    readonly keyFile: string;
    readonly robotCaFile: string;
    readonly controllerCaFile: string;
  };
}

/** The operator's to fix: the process exits 78 (EX_CONFIG) and systemd does not restart it. */
export class RelayConfigError extends Error {
  override readonly name = "RelayConfigError";
  readonly exitCode = 78;
}

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/;
const KEYS = new Set(["robotListen", "controllerListen", "metricsListen", "tls"]);
const TLS_KEYS = ["certFile", "keyFile", "robotCaFile", "controllerCaFile"] as const;
const clip = (s: string) => (s.length > 100 ? `${s.slice(0, 100)}…` : s);

function hostPort(key: string, v: unknown): { host: string; port: number } {
  const m = typeof v === "string" ? HOST_PORT.exec(v) : null;
  const port = Number(m?.[3]);
  if (m === null || port > 65_535) throw new RelayConfigError(`${key}: expected "host:port"`);
  return { host: m[1] ?? m[2] ?? "", port };
}

/** Validates parsed JSON; unknown keys are refused (a typo must not fall back to a default). */
export function compileRelayConfig(json: unknown): RelayConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new RelayConfigError("expected an object");
  const c = json as Record<string, unknown>;
  for (const k of Object.keys(c)) if (!KEYS.has(k)) throw new RelayConfigError(`unknown key "${clip(k)}"`);
  const tls = c.tls;
  if (typeof tls !== "object" || tls === null) throw new RelayConfigError("tls: required");
  const t = tls as Record<string, unknown>;
  for (const k of Object.keys(t))
    if (!(TLS_KEYS as readonly string[]).includes(k))
      throw new RelayConfigError(`unknown key "tls.${clip(k)}"`);
  const file = (k: (typeof TLS_KEYS)[number]) => {
    const v = t[k];
    if (typeof v !== "string" || v.length === 0) throw new RelayConfigError(`tls.${k}: expected a file path`);
    return v;
  };
  return {
    robotListen: hostPort("robotListen", c.robotListen),
    controllerListen: hostPort("controllerListen", c.controllerListen),
    metricsListen: c.metricsListen === undefined ? undefined : hostPort("metricsListen", c.metricsListen),
    tls: {
      certFile: file("certFile"),
      keyFile: file("keyFile"),
      robotCaFile: file("robotCaFile"),
      controllerCaFile: file("controllerCaFile"),
    },
  };
}

export async function loadRelayConfig(path: string): Promise<RelayConfig> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (cause) {
    throw new RelayConfigError(`cannot read config ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    return compileRelayConfig(json);
  } catch (e) {
    throw new RelayConfigError(`config ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** The TLS files, read; a missing one is a config error too. */
export async function readRelayTls(
  c: RelayConfig,
): Promise<{ cert: Buffer; key: Buffer; robotCa: Buffer; controllerCa: Buffer }> {
  const read = async (k: keyof RelayConfig["tls"]) => {
    try {
      return await readFile(c.tls[k]);
    } catch (cause) {
      throw new RelayConfigError(`cannot read tls.${k} ${c.tls[k]}: ${(cause as Error).message}`, { cause });
    }
  };
  // In order: the first missing file is the one named (Promise.all named whichever failed first).
  const cert = await read("certFile");
  const key = await read("keyFile");
  const robotCa = await read("robotCaFile");
  const controllerCa = await read("controllerCaFile");
  return { cert, key, robotCa, controllerCa };
}

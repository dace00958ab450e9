import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, readFile, realpath, stat } from "node:fs/promises";
import { firstSymlinkProblem } from "../data/entry-paths.js";
import { entriesProblem } from "../data/entry-rules.js";
import { StartupError } from "../errors.js";
import type { Config } from "./schema.js";

/**
 * What the config points at, checked before the agent does anything: TLS
 * material that would make every handshake fail (or serve plaintext), a state
 * directory the record cannot be written to, data entries that are not the
 * directories they name. Each refusal is a StartupError naming the key and the file.
 */
export async function preflight(config: Config): Promise<void> {
  if (config.tls) await checkTls("tls", config.tls);
  if (config.metrics?.tls) await checkTls("metrics.tls", config.metrics.tls);
  for (const [i, d] of config.dialOut.entries()) await checkTls(`dialOut[${i}]`, d);
  await checkStateDir(config.stateDir);
  await checkDataPaths(config);
}

/**
 * compileConfig checked the entries as written; here, as they are on disk: no
 * symlink on the way, and not touching where the state and hold directories
 * really are (either may be a symlink).
 */
export async function checkDataPaths(config: Config): Promise<void> {
  const entries = config.data.map((e, i) => ({ ...e, name: `data.${i}` }));
  const bad = await firstSymlinkProblem(entries);
  if (bad !== undefined) throw new StartupError("CONFIG", bad);
  const real = async (p: string) => realpath(p).catch(() => p);
  const places = { stateDir: await real(config.stateDir), holdDir: await real(config.holds.dir) };
  const problem = entriesProblem(entries, places);
  if (problem !== undefined) throw new StartupError("CONFIG", problem);
}

interface TlsPaths {
  readonly caFile: string | undefined;
  readonly certFile: string;
  readonly keyFile: string;
}

export async function checkTls(key: string, tls: TlsPaths): Promise<void> {
  if (tls.caFile !== undefined)
    certificates(`${key}.caFile`, tls.caFile, await read(`${key}.caFile`, tls.caFile));
  const [cert] = certificates(`${key}.certFile`, tls.certFile, await read(`${key}.certFile`, tls.certFile));
  const privateKey = parseKey(`${key}.keyFile`, tls.keyFile, await read(`${key}.keyFile`, tls.keyFile));
  if (cert !== undefined && !cert.checkPrivateKey(privateKey))
    throw new StartupError(
      "CONFIG",
      `${key}.keyFile ${tls.keyFile} is not the key of the certificate in ${key}.certFile ${tls.certFile}`,
    );
}

async function read(key: string, file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (cause) {
    // A new robot boots before the operator installs its TLS files: the unit retries until they are there.
    if ((cause as NodeJS.ErrnoException).code === "ENOENT")
      throw new StartupError(
        "NOT_YET",
        `${key} ${file} does not exist (yet); the agent starts once it does`,
        {
          cause,
        },
      );
    throw new StartupError("CONFIG", `cannot read ${key} ${file}: ${(cause as Error).message}`, { cause });
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every PEM certificate in the file; at least one, each of which must parse. */
function certificates(key: string, file: string, text: string): X509Certificate[] {
  if (text.trim() === "")
    throw new StartupError("CONFIG", `${key} ${file} is empty; expected PEM certificates`);
  const blocks = text.match(PEM_CERT) ?? [];
  if (blocks.length === 0)
    throw new StartupError("CONFIG", `${key} ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch (cause) {
      throw new StartupError("CONFIG", `${key} ${file}: certificate ${i + 1} does not parse`, { cause });
    }
  });
}

function parseKey(key: string, file: string, text: string): KeyObject {
  if (!text.includes("-----BEGIN ") || !text.includes("PRIVATE KEY-----"))
    throw new StartupError("CONFIG", `${key} ${file} holds no PEM private key`);
  try {
    return createPrivateKey(text);
  } catch (cause) {
    throw new StartupError(
      "CONFIG",
      `${key} ${file}: the private key does not parse (an encrypted key is not supported)`,
      { cause },
    );
  }
}

/** Exists (created if missing, as the record store would), is a directory, and is writable. */
export async function checkStateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === "EEXIST" || code === "ENOTDIR" ? "it or a parent is not a directory" : code;
    throw new StartupError("CONFIG", `stateDir ${dir} cannot be used: ${why}`, { cause });
  }
  if (!(await stat(dir)).isDirectory())
    throw new StartupError("CONFIG", `stateDir ${dir} cannot be used: it is not a directory`);
  try {
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (cause) {
    throw new StartupError(
      "CONFIG",
      `stateDir ${dir} is not writable (${(cause as NodeJS.ErrnoException).code}): the deployment record lives there`,
      { cause },
    );
  }
}

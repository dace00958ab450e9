import * as grpc from "@grpc/grpc-js";
import { UserError } from "../core/errors.js";
import { describeFsError, type Target } from "../targets/inventory.js";
import {
  checkCa,
  checkCertAndKey,
  echoPath,
  readRegularFile,
  TlsFileProblem,
  type TlsFileRole,
} from "./tls-files.js";

/** Library messages (OpenSSL's) are echoed too: one line, bounded. */
const MAX_REASON = 300;

/** `role`: the inventory field that named the file (caFile, relayCaFile, …). */
function problem(target: Target, role: string, file: string, e: unknown): UserError {
  const path = echoPath(file);
  if (e instanceof TlsFileProblem) {
    const why = e.message.slice(0, MAX_REASON).replace(/\p{Cc}/gu, " ");
    return new UserError(`${target.name}: ${role} ${path}: ${why}`, { cause: e });
  }
  return new UserError(`${target.name}: cannot read ${role} ${path}: ${describeFsError(e)}`, { cause: e });
}

export async function readTlsFile(target: Target, role: string, path: string): Promise<Buffer> {
  try {
    return await readRegularFile(path);
  } catch (e) {
    throw problem(target, role, path, e);
  }
}

const fileOf = (target: Target, role: TlsFileRole) => readTlsFile(target, role, target[role]);

export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * The target's CA, certificate and key, read once for gRPC and the raw push channel: regular
 * files of at most 1 MiB, each checked as PEM, so a wrong file is named here and not by a TLS
 * handshake's misleading error (issue 24). The first problem found is the one reported.
 */
export async function readTlsMaterial(target: Target): Promise<TlsMaterial> {
  // Settled all, reported in this order: the same files give the same message.
  const read = await Promise.allSettled([
    fileOf(target, "caFile"),
    fileOf(target, "certFile"),
    fileOf(target, "keyFile"),
  ]);
  const [ca, cert, key] = read.map((r) => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  }) as [Buffer, Buffer, Buffer];
  try {
    checkCa(ca);
  } catch (e) {
    throw problem(target, "caFile", target.caFile, e);
  }
  const { certProblem, keyProblem } = checkCertAndKey(cert, key);
  if (certProblem !== undefined) throw problem(target, "certFile", target.certFile, certProblem);
  if (keyProblem !== undefined) throw problem(target, "keyFile", target.keyFile, keyProblem);
  return { ca, cert, key };
}

export async function createCredentials(
  target: Target,
  material?: TlsMaterial,
): Promise<grpc.ChannelCredentials> {
  const { ca, cert, key } = material ?? (await readTlsMaterial(target));
  try {
    return grpc.credentials.createSsl(ca, key, cert);
  } catch (e) {
    // createSsl parses the PEM material; a bad file is the user's to fix.
    throw new UserError(`${target.name}: invalid TLS material: ${(e as Error).message}`, { cause: e });
  }
}

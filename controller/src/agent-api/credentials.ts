import { readFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { UserError } from "../core/errors.js";
import { describeFsError, type Target } from "../inventory.js";

export async function readTlsFile(target: Target, role: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new UserError(`${target.name}: cannot read ${role} ${path}: ${describeFsError(e)}`, { cause: e });
  }
}

export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** The target's CA, certificate and key, read once for gRPC and the raw push channel. */
export async function readTlsMaterial(target: Target): Promise<TlsMaterial> {
  const [ca, cert, key] = await Promise.all([
    readTlsFile(target, "caFile", target.caFile),
    readTlsFile(target, "certFile", target.certFile),
    readTlsFile(target, "keyFile", target.keyFile),
  ]);
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

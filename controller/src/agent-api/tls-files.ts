import { createPrivateKey, X509Certificate } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { open } from "node:fs/promises";

/**
 * A CA bundle, certificate or key is a few kB (the system CA bundle ~200 kB): more is a wrong
 * file, and reading `/dev/zero` or a 1 GB file must not grow the CLI (issue 24).
 */
export const MAX_TLS_FILE_BYTES = 1024 * 1024;

const READ_CHUNK = 64 * 1024;

/** Echoed paths are the inventory's: bounded, control characters made visible. */
const MAX_ECHO = 200;

export type TlsFileRole = "caFile" | "certFile" | "keyFile";

/** Why a TLS file is refused; `message` is one line naming neither target nor path. */
export class TlsFileProblem extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TlsFileProblem";
  }
}

export function echoPath(path: string): string {
  const cut = path.length > MAX_ECHO ? `${path.slice(0, MAX_ECHO)}…` : path;
  return cut.replace(/\p{Cc}/gu, "?");
}

function fileKind(s: Stats): string {
  if (s.isDirectory()) return "a directory";
  if (s.isFIFO()) return "a FIFO";
  if (s.isCharacterDevice()) return "a character device";
  if (s.isBlockDevice()) return "a block device";
  if (s.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * The file's bytes, if it is a regular file of at most `max` bytes. O_NONBLOCK: opening a FIFO
 * would otherwise block a libuv pool thread until a writer came (and hold the process at exit);
 * the type is checked on the open descriptor, so a file swapped after a stat is caught too.
 */
export async function readRegularFile(path: string, max = MAX_TLS_FILE_BYTES): Promise<Buffer> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new TlsFileProblem(`is ${fileKind(st)}, not a regular file`);
    if (st.size > max)
      throw new TlsFileProblem(`is ${st.size} bytes, more than the ${max} a TLS file may have`);
    // To the end, whatever the size said (it may grow meanwhile, or be 0 as in /proc), bounded.
    const chunks: Buffer[] = [];
    let got = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(READ_CHUNK, max + 1 - got));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      got += bytesRead;
      if (got > max) throw new TlsFileProblem(`grew beyond the ${max} bytes a TLS file may have`);
    }
    return Buffer.concat(chunks, got);
  } finally {
    await fh.close();
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

function certificates(pem: string): string[] {
  return [...pem.matchAll(PEM_BLOCK)].filter((m) => m[1] === "CERTIFICATE").map((m) => m[0]);
}

function parseCertificate(block: string, what: string): X509Certificate {
  try {
    return new X509Certificate(block);
  } catch (e) {
    throw new TlsFileProblem(`${what} does not parse: ${(e as Error).message}`, { cause: e });
  }
}

/** The CA bundle: at least one CERTIFICATE block, each one a certificate. */
export function checkCa(bytes: Buffer): void {
  const text = bytes.toString("latin1");
  if (text.trim() === "") throw new TlsFileProblem("empty CA file");
  const blocks = certificates(text);
  if (blocks.length === 0) throw new TlsFileProblem("has no PEM CERTIFICATE block");
  for (const [i, b] of blocks.entries()) parseCertificate(b, `certificate ${i + 1} of ${blocks.length}`);
}

/** The client certificate (its first block; a chain may follow) and the key that goes with it. */
export function checkCertAndKey(
  cert: Buffer,
  key: Buffer,
): { certProblem?: TlsFileProblem; keyProblem?: TlsFileProblem } {
  let x509: X509Certificate | undefined;
  let certProblem: TlsFileProblem | undefined;
  let keyProblem: TlsFileProblem | undefined;
  try {
    const first = certificates(cert.toString("latin1"))[0];
    if (first === undefined) throw new TlsFileProblem("has no PEM CERTIFICATE block");
    x509 = parseCertificate(first, "the certificate");
  } catch (e) {
    certProblem = e instanceof TlsFileProblem ? e : new TlsFileProblem(String(e), { cause: e });
  }
  try {
    const k = createPrivateKey({ key, format: "pem" });
    if (x509 !== undefined && !x509.checkPrivateKey(k)) {
      keyProblem = new TlsFileProblem("is not the key of certFile's certificate");
    }
  } catch (e) {
    keyProblem = new TlsFileProblem(`is not a PEM private key: ${(e as Error).message}`, { cause: e });
  }
  return { ...(certProblem && { certProblem }), ...(keyProblem && { keyProblem }) };
}

// Leaf certificates for many simulated robots in one process: openssl per certificate (three
// processes each) takes minutes for 1,000 on a loaded machine. Minimal X.509 v3 (no extensions:
// any use), ECDSA P-256 with SHA-256, all sharing one key: the relay routes by CN, and a TLS
// session per connection is what it pays for either way.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  X509Certificate,
} from "node:crypto";

const len = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n]);
  const b: number[] = [];
  for (let v = n; v > 0; v >>= 8) b.unshift(v & 0xff);
  return Buffer.from([0x80 | b.length, ...b]);
};
const tlv = (tag: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from([tag]), len(body.length), body]);
const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const oid = (dotted: string): Buffer => {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a + b];
  for (const v of rest) {
    const bytes = [v & 0x7f];
    for (let x = v >> 7; x > 0; x >>= 7) bytes.unshift(0x80 | (x & 0x7f));
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
};
const int = (n: number): Buffer => {
  const b: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) b.unshift(v % 256);
  if (b.length === 0 || (b[0] ?? 0) & 0x80) b.unshift(0);
  return tlv(0x02, Buffer.from(b));
};
const name = (cn: string) => seq(tlv(0x31, seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from(cn)))));
const utc = (d: Date) => tlv(0x17, Buffer.from(`${d.toISOString().slice(2, 19).replace(/[-:T]/g, "")}Z`));
const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

export interface Issuer {
  readonly cn: string;
  readonly key: KeyObject;
}

/** PEM of a certificate for `cn` (valid for 2 days), signed by `issuer`, holding `publicKey`. */
export function issueLeaf(cn: string, serial: number, publicKey: KeyObject, issuer: Issuer): string {
  const now = Date.now();
  const tbs = seq(
    tlv(0xa0, int(2)),
    int(serial),
    ECDSA_SHA256,
    name(issuer.cn),
    seq(utc(new Date(now - 3_600_000)), utc(new Date(now + 2 * 86_400_000))),
    name(cn),
    publicKey.export({ type: "spki", format: "der" }),
  );
  const sig = sign("sha256", tbs, issuer.key);
  const der = seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.concat([Buffer.from([0]), sig])));
  return `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END CERTIFICATE-----\n`;
}

/** One key pair for every simulated robot (PEM key, public KeyObject). */
export function sharedRobotKey(): { keyPem: string; publicKey: KeyObject } {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return {
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKey: createPublicKey(privateKey),
  };
}

/** The issuer of an openssl-made CA: its CN as in the certificate, its key file's content. */
export function issuerOf(caPem: string, caKeyPem: string): Issuer {
  const cn = /CN=([^\n,]+)/.exec(new X509Certificate(caPem).subject)?.[1] ?? "";
  return { cn, key: createPrivateKey(caKeyPem) };
}

import { encodeNixBase32, formatNarHash, parseNarHash } from "@ros-rollback/nix-core";
import type { PathInfo } from "@ros-rollback/proto";
import { UserError } from "../core/errors.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bad(what: string): UserError {
  return new UserError(`cannot read nix path-info output: ${what}`);
}

/**
 * Reads `nix path-info --json` of any Nix version: an array of objects with
 * "path" (Nix ≤ 2.18), an object keyed by store path (2.19+), or the
 * versioned `{version, storeDir, info}` document (`--json-format 2`, with
 * base names and structured hashes). A path nix reports as invalid (null) is
 * an error: it cannot be pushed.
 */
export function parsePathInfoJson(text: string, storeDir = "/nix/store"): PathInfo[] {
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (cause) {
    throw new UserError(`nix path-info printed invalid JSON: ${(cause as Error).message}`, { cause });
  }
  if (Array.isArray(doc)) {
    return doc.map((entry) => {
      if (!isObject(entry) || typeof entry.path !== "string") throw bad("array entry without a path");
      return toPathInfo(entry.path, entry, storeDir);
    });
  }
  if (!isObject(doc)) throw bad("neither an array nor an object");
  let entries: JsonObject = doc;
  if (typeof doc.version === "number" && isObject(doc.info)) {
    entries = doc.info;
    if (typeof doc.storeDir === "string") storeDir = doc.storeDir;
  }
  return Object.entries(entries).map(([path, entry]) => {
    if (entry === null) throw new UserError(`${path} is not valid in the local Nix store`);
    if (!isObject(entry)) throw bad(`entry for ${path} is not an object`);
    return toPathInfo(path, entry, storeDir);
  });
}

function toPathInfo(key: string, e: JsonObject, storeDir: string): PathInfo {
  const full = (p: string) => (p.startsWith("/") ? p : `${storeDir}/${p}`);
  const storePath = full(key);
  const digest = typeof e.narHash === "string" ? parseNarHash(e.narHash) : undefined;
  if (digest === undefined) throw bad(`${storePath} has no usable sha256 narHash`);
  const narHash = formatNarHash(digest);
  if (typeof e.narSize !== "number" || !Number.isSafeInteger(e.narSize) || e.narSize <= 0) {
    throw bad(`${storePath} has no NAR size`);
  }
  const refs = Array.isArray(e.references) ? e.references : [];
  const sigs = Array.isArray(e.signatures) ? e.signatures : [];
  return {
    storePath,
    narHash,
    narSize: e.narSize,
    references: refs.filter((r): r is string => typeof r === "string").map(full),
    deriver: typeof e.deriver === "string" ? full(e.deriver) : "",
    signatures: sigs.map(signatureText).filter((s): s is string => s !== undefined),
    ca: contentAddressText(e.ca ?? null),
  };
}

function signatureText(s: Json): string | undefined {
  if (typeof s === "string") return s;
  if (isObject(s) && typeof s.keyName === "string" && typeof s.sig === "string")
    return `${s.keyName}:${s.sig}`;
  return undefined;
}

const CA_PREFIX: Readonly<Record<string, string>> = {
  text: "text:",
  flat: "fixed:",
  nar: "fixed:r:",
  git: "fixed:git:",
};

/** Nix's textual content address; newer Nix prints `{method, hash}` with an SRI hash. */
function contentAddressText(ca: Json): string {
  if (typeof ca === "string") return ca;
  if (!isObject(ca) || typeof ca.method !== "string" || typeof ca.hash !== "string") return "";
  const prefix = CA_PREFIX[ca.method];
  const sri = /^([a-z0-9]+)-([A-Za-z0-9+/]+=*)$/.exec(ca.hash);
  if (prefix === undefined || sri === null) throw bad(`unknown content address ${JSON.stringify(ca)}`);
  return `${prefix}${sri[1]}:${encodeNixBase32(Buffer.from(sri[2] ?? "", "base64"))}`;
}

import {
  formatNarHash,
  isWellFormedSignature,
  parseNarHash,
  quote,
  storePathProblem,
} from "@ros-rollback/nix-core";
import type { PathInfo } from "@ros-rollback/proto";
import { AgentError } from "../errors.js";
import type { ImportPathInfo } from "./nix-store.js";

/** `text:sha256:…`, `fixed:r:sha256:…`, `fixed:sha256:…`, `fixed:git:sha1:…`. */
const CONTENT_ADDRESS = /^(text|fixed):[A-Za-z0-9:+/=_-]{1,200}$/;

function invalid(path: string, what: string): AgentError {
  return new AgentError("INVALID_ARGUMENT", `path ${quote(path)}: ${what}`);
}

/**
 * Checks everything about an announced path that does not need the store,
 * and puts it in the form nix-store --serve expects. Signatures nix could not
 * parse are dropped (they cannot be ours: verification needs well-formed ones).
 */
export function checkPathInfo(raw: PathInfo, storeDir: string): ImportPathInfo {
  const path = raw.storePath;
  const problem = storePathProblem(path, storeDir);
  if (problem !== undefined)
    throw new AgentError("INVALID_ARGUMENT", `invalid store path ${quote(path)}: ${problem}`);
  for (const ref of raw.references) {
    const refProblem = storePathProblem(ref, storeDir);
    if (refProblem !== undefined) throw invalid(path, `invalid reference ${quote(ref)}: ${refProblem}`);
  }
  if (raw.deriver !== "") {
    const drvProblem = storePathProblem(raw.deriver, storeDir);
    if (drvProblem !== undefined) throw invalid(path, `invalid deriver ${quote(raw.deriver)}: ${drvProblem}`);
  }
  if (!Number.isSafeInteger(raw.narSize) || raw.narSize <= 0) {
    throw invalid(path, `invalid NAR size ${raw.narSize}`);
  }
  if (raw.ca !== "" && !CONTENT_ADDRESS.test(raw.ca))
    throw invalid(path, `malformed content address ${quote(raw.ca)}`);
  const digest = parseNarHash(raw.narHash);
  if (digest === undefined) throw invalid(path, `malformed NAR hash ${quote(raw.narHash)}`);
  return {
    storePath: path,
    deriver: raw.deriver,
    narHash: formatNarHash(digest),
    narSize: raw.narSize,
    references: [...new Set(raw.references)],
    signatures: raw.signatures.filter(isWellFormedSignature),
    ca: raw.ca,
  };
}

/** Rough heap cost of holding an announced PathInfo, to bound how many may wait for their bytes. */
export function pathInfoCost(raw: PathInfo): number {
  let n = 200 + raw.storePath.length + raw.narHash.length + raw.deriver.length + raw.ca.length;
  for (const r of raw.references) n += 40 + r.length;
  for (const s of raw.signatures) n += 40 + s.length;
  return n;
}

import { storePathProblem } from "@ros-rollback/nix-core";

/** A binary cache's `<hash>.narinfo`, the fields the agent needs. */
export interface NarInfo {
  readonly storePath: string;
  /** NAR file, relative to the cache. */
  readonly url: string;
  readonly compression: string;
  /** 0 if the narinfo does not say. */
  readonly fileSize: number;
  readonly narHash: string;
  readonly narSize: number;
  /** Full store paths. */
  readonly references: readonly string[];
  readonly signatures: readonly string[];
  /** Content address (`CA:`), empty if none. */
  readonly ca: string;
}

/** A narinfo is a few lines; anything much bigger is not one. */
export const MAX_NARINFO_BYTES = 256 * 1024;

/**
 * Parses narinfo text (`Key: value` lines). Returns a reason instead of
 * throwing: a bad answer from a cache means "not there", never a crash.
 */
export function parseNarInfo(text: string, storeDir: string): NarInfo | string {
  if (text.length > MAX_NARINFO_BYTES) return "narinfo too large";
  const fields = new Map<string, string>();
  const sigs: string[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const colon = line.indexOf(": ");
    if (colon <= 0) return "narinfo line without 'Key: value'";
    const key = line.slice(0, colon);
    const value = line.slice(colon + 2);
    if (key === "Sig") sigs.push(value);
    else fields.set(key, value);
  }
  const storePath = fields.get("StorePath");
  if (storePath === undefined || storePathProblem(storePath, storeDir) !== undefined) {
    return "narinfo without a valid StorePath";
  }
  const url = fields.get("URL");
  if (url === undefined || url === "") return "narinfo without URL";
  const narHash = fields.get("NarHash");
  if (narHash === undefined || narHash === "") return "narinfo without NarHash";
  const narSize = Number(fields.get("NarSize"));
  if (!Number.isSafeInteger(narSize) || narSize <= 0) return "narinfo without a valid NarSize";
  const fileSizeText = fields.get("FileSize");
  const fileSize = fileSizeText === undefined ? 0 : Number(fileSizeText);
  if (!Number.isSafeInteger(fileSize) || fileSize < 0) return "narinfo with a bad FileSize";
  const refs = (fields.get("References") ?? "").split(" ").filter((r) => r !== "");
  const references: string[] = [];
  for (const r of refs) {
    const full = `${storeDir}/${r}`;
    if (storePathProblem(full, storeDir) !== undefined) return "narinfo with a bad reference";
    references.push(full);
  }
  return {
    storePath,
    url,
    compression: fields.get("Compression") ?? "bzip2",
    fileSize,
    narHash,
    narSize,
    references,
    signatures: sigs,
    ca: fields.get("CA") ?? "",
  };
}

import { quote } from "@ros-rollback/nix-core";
import { AgentError } from "../errors.js";
import { cut } from "../text/bounded.js";
import type { CacheRelay, RelayFailure } from "./cache-relay.js";
import type { Found } from "./substituters.js";

/**
 * How Nix (2.8 and later) says it refused a NAR the relay handed it: the
 * decompressor failed (corrupt or cut-short xz, zstd, bzip2, brotli), the
 * content is not the signed hash or size, or not a NAR at all. Anchored at an
 * `error:` line (colours allowed); none comes from the local disk.
 */
const NAR_REFUSALS: readonly (readonly [RegExp, string])[] = (
  [
    [
      /failed to read compressed data|Failed to open archive|error while decompressing|decompression error/,
      "its compressed data is corrupt or cut short",
    ],
    [/hash mismatch importing path/, "its content does not match the signed NAR hash"],
    [/size mismatch importing path/, "its content does not match the signed NAR size"],
    [/NAR for '[^']*' fetched from '[^']*' is incomplete/, "the NAR ends early"],
    [/bad archive:|input doesn't look like a Nix archive/, "it is not a valid NAR"],
    [/file '[^']*' does not exist in binary cache/, "the cache has the narinfo but not the NAR"],
  ] as const
).map(([re, what]) => [new RegExp(`^(?:\\S*error:\\S*\\s+)?(?:${re.source})`, "m"), what] as const);

const SIGNATURE_REFUSAL =
  /does not have a valid signature|lacks a signature by a trusted key|lacks a valid signature/;

export interface NixExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/**
 * Why substituting failed, for the operator: what the relay saw go wrong
 * first, then what Nix said about the bytes it got. A cache's fault is
 * CACHE_BAD_NAR (or UNTRUSTED), a cache gone is CACHE_UNAVAILABLE, each naming
 * the cache and the path; only a failure neither explains is Nix failing.
 */
export function explainFailure(
  exit: NixExit,
  relay: Pick<CacheRelay, "url" | "delivered" | "failures">,
  found: ReadonlyMap<string, Found>,
  stillMissing: ReadonlySet<string>,
): AgentError {
  // Nix's error lines, the relay (gone by now) named as what it is.
  const lines = exit.stderr.replaceAll(relay.url, "the agent's relay").trim().split("\n");
  const errors = lines.filter((l) => /^\S*error:/.test(l));
  const tail = (errors.length > 0 ? errors : lines).slice(-4).join(" | ");
  const nix = ` (nix: ${cut(tail, 400)})`;
  const seen = relay.failures.filter((f) => stillMissing.has(f.storePath));
  const first = seen.find((f) => f.kind === "bad") ?? seen[0];
  if (first !== undefined) return relayed(first, seen.length);

  const named = (path: string) => `${quote(found.get(path)?.cacheUrl ?? "(unknown cache)")}`;
  if (SIGNATURE_REFUSAL.test(exit.stderr)) {
    const path = suspects(exit.stderr, [...stillMissing])[0];
    const which = path === undefined ? "" : ` for ${quote(path)} from cache ${named(path)}`;
    return new AgentError("UNTRUSTED", `Nix refused a signature${which}${nix}`);
  }
  const refusal = NAR_REFUSALS.find(([re]) => re.test(exit.stderr))?.[1];
  if (refusal !== undefined) {
    const handed = [...relay.delivered].filter((p) => stillMissing.has(p));
    const blamed = suspects(exit.stderr, handed.length > 0 ? handed : [...stillMissing]);
    const path = blamed[0];
    const which = path === undefined ? "a NAR" : `the NAR of ${quote(path)}`;
    const more = blamed.length > 1 ? ` (or of ${blamed.length - 1} more paths fetched at the same time)` : "";
    const from = path === undefined ? "a cache" : `cache ${named(path)}`;
    return new AgentError("CACHE_BAD_NAR", `${from} served a bad NAR: ${which}${more}: ${refusal}${nix}`);
  }
  const how = exit.code === null ? `killed by ${exit.signal}` : `exit ${exit.code}`;
  return new AgentError(
    "EXTERNAL_COMMAND_FAILED",
    `substituting from the agent's caches failed (${how}): ${cut(tail, 600)}`,
  );
}

function relayed(f: RelayFailure, count: number): AgentError {
  const more = count > 1 ? ` (and ${count - 1} more failed downloads)` : "";
  const what = `cache ${quote(f.cacheUrl)}, path ${quote(f.storePath)}: ${f.what}${more}`;
  return f.kind === "bad"
    ? new AgentError("CACHE_BAD_NAR", `a cache did not deliver the NAR its narinfo promised: ${what}`)
    : new AgentError("CACHE_UNAVAILABLE", `a cache stopped answering while a NAR was fetched: ${what}`);
}

/** Those of `among` Nix's stderr names (the path it failed on); all of them if it names none. */
function suspects(stderr: string, among: readonly string[]): readonly string[] {
  const said = among.filter((p) => stderr.includes(`'${p}'`));
  return said.length > 0 ? said : among;
}

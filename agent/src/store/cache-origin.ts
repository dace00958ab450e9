import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { quote } from "@ros-rollback/nix-core";

/**
 * Where a configured cache may send the robot. The substituters allowlist is
 * one of origins: an http(s) cache's scheme, host and port; a file:// cache's
 * directory. Redirects and a narinfo's NAR `URL:` are checked against it before
 * anything is fetched, so a cache (or anyone between robot and an http:// cache)
 * cannot point the robot at another host or at a root-only file.
 */

/** Same-origin redirects are followed (a cache moving a path); this many at most. */
export const MAX_REDIRECTS = 3;

/** The NAR a narinfo names, resolved as Nix does (relative: under the cache); a reason if it leaves the cache. */
export function narLocation(cacheUrl: string, narinfoUrl: string): URL | string {
  // Nix takes http://, https:// and file:// URLs as they are and appends anything else to the cache.
  const absolute = /^(https?|file):\/\//.test(narinfoUrl);
  let url: URL;
  try {
    url = new URL(absolute ? narinfoUrl : `${cacheUrl}/${narinfoUrl}`);
  } catch {
    return `its NAR URL ${quote(narinfoUrl)} is not a URL`;
  }
  return onCache(cacheUrl, url) ? url : `its NAR URL ${quote(narinfoUrl)} leaves the cache (not fetched)`;
}

/** True if `url` is on the cache's origin (http) or inside its directory (file). */
export function onCache(cacheUrl: string, url: URL): boolean {
  const cache = new URL(cacheUrl);
  if (cache.protocol === "file:") {
    if (url.protocol !== "file:" || url.host !== cache.host) return false;
    try {
      const dir = fileURLToPath(cache).replace(/\/+$/, "");
      return fileURLToPath(url).startsWith(`${dir}/`);
    } catch {
      return false; // an encoded slash: no file a cache writes
    }
  }
  return url.origin === cache.origin;
}

export type Fetched = { readonly response: Response } | { readonly refused: string };

/**
 * GET `url` following only redirects that stay on the cache (at most
 * MAX_REDIRECTS); a redirect elsewhere is refused without a request to it.
 * Fetch errors (connection refused, abort) are thrown as fetch throws them.
 */
export async function fetchOnCache(cacheUrl: string, url: URL, signal: AbortSignal): Promise<Fetched> {
  let at = url;
  for (let hop = 0; ; hop++) {
    const response = await fetch(at, { signal, redirect: "manual" });
    if (![301, 302, 303, 307, 308].includes(response.status)) return { response };
    discardBody(response);
    const location = response.headers.get("location") ?? "";
    let next: URL;
    try {
      next = new URL(location, at);
    } catch {
      return {
        refused: `GET ${quote(at.href)}: HTTP ${response.status} to a bad location ${quote(location)}`,
      };
    }
    if (!onCache(cacheUrl, next)) {
      return {
        refused: `GET ${quote(at.href)}: redirected to another origin ${quote(next.href)} (not followed)`,
      };
    }
    if (hop >= MAX_REDIRECTS)
      return { refused: `GET ${quote(url.href)}: more than ${MAX_REDIRECTS} redirects` };
    at = next;
  }
}

/**
 * Lets a body we will not read go without waiting for it: the answer is already known, and the
 * request's deadline does not bound a wait on cancel().
 */
export function discardBody(response: Response): void {
  void response.body?.cancel().catch(() => undefined);
}

/** The body as text, or undefined once it passes `max` bytes (the read stops there: nothing more is buffered). */
export async function readBounded(response: Response, max: number): Promise<string | undefined> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > max || response.body === null) {
    discardBody(response);
    return declared > max ? undefined : "";
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * A local file as text, or undefined once it passes `max` bytes; ENOENT is
 * thrown. Never blocks on a FIFO (O_NONBLOCK) and reads only regular files.
 */
export async function readFileBounded(path: string, max: number, what: string): Promise<string | undefined> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await fh.stat()).isFile()) throw new Error(`${what} is not a regular file`);
    const buf = Buffer.alloc(max + 1);
    let size = 0;
    while (size < buf.length) {
      const { bytesRead } = await fh.read(buf, size, buf.length - size);
      if (bytesRead === 0) break;
      size += bytesRead;
    }
    return size > max ? undefined : buf.subarray(0, size).toString("utf8");
  } finally {
    await fh.close();
  }
}

// The lab's binary cache: nginx (Debian's) on the host serving a Nix binary-cache directory, which
// every lab robot reaches at its veth's host end (10.231.K.1). `cache up` / `cache down`.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addressFor, STATE_DIR } from "./config.js";
import { LabError, run } from "./proc.js";

export const CACHE_PORT = 8231;
export const CACHE_STATE = join(STATE_DIR, "cache");
/** The binary cache itself (`nix copy --to file://…` writes here). */
export const CACHE_STORE = join(CACHE_STATE, "store");
const CONF = join(CACHE_STATE, "nginx.conf");
const PID = join(CACHE_STATE, "nginx.pid");
/** Signs what is uploaded for every robot booted with --cache (they trust its public key). */
export const CACHE_SECRET_KEY = join(CACHE_STATE, "secret.key");
const PUBLIC_KEY = join(CACHE_STATE, "public.key");

export interface CacheInfo {
  /** From the host. */
  readonly url: string;
  /** For `nix copy --to`. */
  readonly storeUri: string;
  readonly secretKeyFile: string;
  readonly publicKey: string;
}

/** The cache as robot K sees it (the host end of its veth). */
export function robotCacheUrl(index: number): string {
  return `http://${addressFor(index).host}:${CACHE_PORT}`;
}

export function nginxConf(): string {
  return `daemon on;
user root root;
worker_processes 1;
pid ${PID};
error_log ${join(CACHE_STATE, "error.log")};
events { worker_connections 256; }
http {
  access_log ${join(CACHE_STATE, "access.log")};
  client_body_temp_path ${join(CACHE_STATE, "tmp")};
  types { text/x-nix-narinfo narinfo; application/x-nix-nar nar; text/plain nix-cache-info; }
  default_type application/octet-stream;
  sendfile on;
  server {
    listen ${CACHE_PORT};
    root ${CACHE_STORE};
    location / { try_files $uri =404; }
  }
}
`;
}

function info(): CacheInfo {
  return {
    url: `http://127.0.0.1:${CACHE_PORT}`,
    storeUri: `file://${CACHE_STORE}`,
    secretKeyFile: CACHE_SECRET_KEY,
    publicKey: readFileSync(PUBLIC_KEY, "utf8").trim(),
  };
}

function running(): boolean {
  if (!existsSync(PID)) return false;
  const pid = Number(readFileSync(PID, "utf8").trim());
  try {
    // A killed nginx may linger as a zombie when nothing reaps it: that is not running.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

export async function cacheUp(opts: { signal?: AbortSignal } = {}): Promise<CacheInfo> {
  mkdirSync(join(CACHE_STATE, "tmp"), { recursive: true });
  mkdirSync(CACHE_STORE, { recursive: true });
  if (!existsSync(PUBLIC_KEY)) {
    await run(
      "nix-store",
      ["--generate-binary-cache-key", "lab-cache-1", CACHE_SECRET_KEY, PUBLIC_KEY],
      opts,
    );
  }
  const cacheInfo = join(CACHE_STORE, "nix-cache-info");
  if (!existsSync(cacheInfo))
    writeFileSync(cacheInfo, "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n");
  writeFileSync(CONF, nginxConf());
  if (!running()) {
    const nginx = existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
    await run(nginx, ["-c", CONF, "-p", CACHE_STATE], { ...opts, timeoutMs: 10_000 }).catch((e: unknown) => {
      throw new LabError(`cannot start nginx (apt-get install nginx): ${(e as Error).message}`, { cause: e });
    });
  }
  return info();
}

/** The cache for a robot booted with --cache; the cache must be up. */
export function cacheForRobot(index: number): { url: string; publicKey: string } {
  if (!running()) throw new LabError("the lab cache is not up: npm run lab -- cache up");
  return { url: robotCacheUrl(index), publicKey: info().publicKey };
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .split(" ")
      .filter((t) => t.trim() !== "")
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Stops nginx (`hard`: SIGKILL to its workers and master, cutting transfers mid-way; else a
 * graceful quit). Keeps the cache's keys; drops its contents unless `keepStore`.
 */
export async function cacheDown(
  opts: { signal?: AbortSignal; keepStore?: boolean; hard?: boolean } = {},
): Promise<void> {
  if (running()) {
    const pid = Number(readFileSync(PID, "utf8").trim());
    if (opts.hard === true) {
      // The master first: a master that outlives a worker forks a new one, which would keep the port.
      const workers = children(pid);
      process.kill(pid, "SIGKILL");
      for (const worker of workers) process.kill(worker, "SIGKILL");
    } else {
      process.kill(pid, "SIGQUIT");
    }
    for (let i = 0; i < 100 && running(); i++) await new Promise((r) => setTimeout(r, 50));
    if (running()) process.kill(pid, "SIGKILL");
    rmSync(PID, { force: true });
  }
  if (opts.keepStore !== true) await run("rm", ["-rf", CACHE_STORE], opts);
}

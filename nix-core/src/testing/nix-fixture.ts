import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Throwaway Nix stores for tests: chroot stores (`--store <dir>`, files under
 * <dir>/nix/store, logical paths still /nix/store/…), so tests neither read
 * nor write the host's /nix. Works with Nix 2.8 as root.
 */
export class NixFixture {
  private constructor(
    readonly root: string,
    readonly env: NodeJS.ProcessEnv,
    /** The controller's side: where test paths are built. */
    readonly sourceStore: string,
    readonly secretKeyFile: string,
    readonly publicKey: string,
  ) {}

  static async create(keyName = "test-key-1"): Promise<NixFixture> {
    const root = await mkdtemp(join(tmpdir(), "ros-rollback-nix-"));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // No nixbld group in the test container; nix-command is NOT enabled, the code under test must ask for it.
      NIX_CONFIG: "build-users-group =\nsandbox = false\nsubstituters =",
      XDG_CACHE_HOME: join(root, "cache"),
    };
    const sk = join(root, "secret.key");
    const pk = join(root, "public.key");
    await run("nix-store", ["--generate-binary-cache-key", keyName, sk, pk], { env });
    const publicKey = (await readFile(pk, "utf8")).trim();
    return new NixFixture(root, env, join(root, "source"), sk, publicKey);
  }

  /** A fresh empty store (stands in for a robot). */
  store(name: string): string {
    return join(this.root, name);
  }

  async nix(args: readonly string[], store = this.sourceStore): Promise<string> {
    const { stdout } = await run(
      "nix",
      ["--extra-experimental-features", "nix-command", "--store", store, ...args],
      { env: this.env, maxBuffer: 64 * 1024 * 1024 },
    );
    return stdout;
  }

  async nixStore(args: readonly string[], store = this.sourceStore): Promise<string> {
    const { stdout } = await run("nix-store", ["--store", store, ...args], {
      env: this.env,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  }

  /** Evaluates a Nix expression that yields a store path (builtins.toFile…) in `store`. */
  async build(expr: string, store = this.sourceStore): Promise<string> {
    return (await this.nix(["eval", "--raw", "--expr", expr], store)).trim();
  }

  /** Adds a file or directory to `store` (nix-store --add). */
  async add(file: string, store = this.sourceStore): Promise<string> {
    return (await this.nixStore(["--add", file], store)).trim();
  }

  async sign(path: string, store = this.sourceStore): Promise<void> {
    await this.nix(["store", "sign", "--key-file", this.secretKeyFile, "--recursive", path], store);
  }

  async isValid(path: string, store: string): Promise<boolean> {
    try {
      await this.nixStore(["--check-validity", path], store);
      return true;
    } catch {
      return false;
    }
  }

  async validAmong(paths: readonly string[], store: string): Promise<string[]> {
    const out: string[] = [];
    for (const p of paths) if (await this.isValid(p, store)) out.push(p);
    return out;
  }

  /** `nix path-info --json` entries of `paths` in `store`, as Nix 2.8 prints them. */
  async pathInfo(paths: readonly string[], store = this.sourceStore): Promise<Record<string, unknown>[]> {
    return JSON.parse(await this.nix(["path-info", "--json", ...paths], store)) as Record<string, unknown>[];
  }

  /** The NAR of `path` exactly as nix-store --dump produces it (real path inside the chroot). */
  async dump(path: string, store = this.sourceStore): Promise<Buffer> {
    const { stdout } = await run("nix-store", ["--dump", join(store, path)], {
      env: this.env,
      encoding: "buffer",
      maxBuffer: 512 * 1024 * 1024,
    });
    return stdout;
  }

  /** `nix-store --export` of `paths` (in that order) from the source store, imported into `store`: a plain push. */
  importInto(paths: readonly string[], store: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const out = spawn("nix-store", ["--store", this.sourceStore, "--export", ...paths], { env: this.env });
      const imp = spawn("nix-store", ["--store", store, "--import"], {
        env: this.env,
        stdio: ["pipe", "ignore", "pipe"],
      });
      out.stdout.pipe(imp.stdin);
      let err = "";
      imp.stderr.on("data", (d: Buffer) => (err += d.toString()));
      imp.on("close", (code) =>
        code === 0 ? resolve() : reject(new Error(`import exited ${code}: ${err}`)),
      );
    });
  }

  async cleanup(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

/** A small dependency graph: top → {mid1, mid2} → leaf, mid2 → big (≈1.9 MiB of hex, so NARs and their compressed stream span many chunks) → leaf. */
export function diamondExpr(tag: string): string {
  return `let
    leaf = builtins.toFile "leaf-${tag}" "leaf";
    big = builtins.toFile "big-${tag}" (builtins.concatStringsSep "" (builtins.genList (i: "\${builtins.hashString "sha256" "${tag}\${toString i}"} after \${leaf}\\n") 16000));
    mid1 = builtins.toFile "mid1-${tag}" "mid1 \${leaf}";
    mid2 = builtins.toFile "mid2-${tag}" "mid2 \${leaf} \${big}";
  in builtins.toFile "top-${tag}" "top \${mid1} \${mid2}"`;
}

/** Names of this process's live child processes (to prove nothing was left running), minus ps itself. */
export async function childProcesses(): Promise<string[]> {
  const { stdout } = await run("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)]).catch(() => ({
    stdout: "",
  }));
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.endsWith(" ps"));
}

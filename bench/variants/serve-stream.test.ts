// The serve-floor's stream, fed to a real `nix-store --serve --write` (a chroot store): every path
// of a host closure ends up valid there, as the agent's import would leave it.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { computeClosure } from "../../controller/src/closure/index.js";
import { readNars } from "../../controller/src/push/nar-source.js";
import { buildClosureOfSizes, deleteClosure } from "../closure.js";
import { serveImportStream } from "./serve-stream.js";

const env = { ...process.env, NIX_CONFIG: "build-users-group =\nsandbox = false\nsubstituters =" };

function nixStore(args: readonly string[], input?: AsyncIterable<Buffer>): Promise<number | null> {
  const child = spawn("nix-store", args, { env, stdio: ["pipe", "ignore", "inherit"] });
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  if (input === undefined) child.stdin.end();
  else pipeline(input, child.stdin).catch(() => undefined); // the exit status tells
  return exited;
}

describe("serveImportStream", () => {
  it("imports a closure into nix-store --serve --write from one pre-built stream", async () => {
    const closure = await buildClosureOfSizes(`t${process.pid}-${Date.now().toString(36)}`, [3000, 70_000]);
    const store = await mkdtemp(join(tmpdir(), "bench-serve-stream-"));
    try {
      const infos = await computeClosure(closure.root, AbortSignal.timeout(30_000), { env });
      expect(infos).toHaveLength(3);
      const nars = readNars(infos, { env }, AbortSignal.timeout(30_000));
      const served = await nixStore(["--store", store, "--serve", "--write"], serveImportStream(infos, nars));
      expect(served).toBe(0);
      expect(await nixStore(["--store", store, "--check-validity", ...infos.map((i) => i.storePath)])).toBe(
        0,
      );
    } finally {
      await rm(store, { recursive: true, force: true });
      await deleteClosure(closure);
    }
  }, 60_000);

  it("refuses NAR pieces out of order and a closure whose NARs stop short", async () => {
    const info = {
      storePath: "/nix/store/x",
      narHash: "",
      narSize: 1,
      references: [],
      deriver: "",
      signatures: [],
      ca: "",
    };
    const drain = async (it: AsyncIterable<Buffer>) => {
      for await (const _ of it);
    };
    async function* pieces(indexes: number[]) {
      for (const index of indexes) yield { index, data: Buffer.from("x"), last: true };
    }
    const sha = `sha256:${"0".repeat(52)}`;
    const infos = [info, info].map((i) => ({ ...i, narHash: sha }));
    await expect(drain(serveImportStream(infos, pieces([1])))).rejects.toThrow(/out of order/);
    await expect(drain(serveImportStream(infos, pieces([0])))).rejects.toThrow(/NARs of 1 paths of 2/);
  });
});

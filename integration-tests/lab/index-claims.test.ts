// Robot indices K (addresses 10.231.K.0/24) claimed by concurrent `up`s: the npm test runs the
// VM scenarios in a second vitest process beside the others, so two ups can claim at once.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LAB_DIR, REPO_ROOT } from "./config.js";
import { allocateIndex, type IndexClaims } from "./robot-files.js";

let base = "";
afterEach(() => rmSync(base, { recursive: true, force: true }));

function claims(): IndexClaims {
  base = mkdtempSync(join(tmpdir(), "lab-index-"));
  const dir = join(base, "index");
  return { dir, pathsOf: (name) => ({ dir: join(base, name), indexFile: join(base, name, "index") }) };
}

interface Claimer {
  ready: Promise<void>;
  go: () => void;
  index: Promise<number>;
}

/** A process that loads, says "ready", and claims an index for \`name\` once a byte arrives on its stdin. */
function claimer(c: IndexClaims, name: string): Claimer {
  const script = `
    import { readSync } from "node:fs";
    import { allocateIndex } from ${JSON.stringify(join(LAB_DIR, "robot-files.ts"))};
    const claims = { dir: ${JSON.stringify(c.dir)}, pathsOf: (n) => ({ dir: ${JSON.stringify(base)} + "/" + n, indexFile: ${JSON.stringify(base)} + "/" + n + "/index" }) };
    process.stdout.write("ready\\n");
    readSync(0, Buffer.alloc(1));
    process.stdout.write(String(allocateIndex(${JSON.stringify(name)}, claims.pathsOf(${JSON.stringify(name)}), claims)));`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: REPO_ROOT,
  });
  let out = "";
  let onReady = (): void => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    if (out.startsWith("ready\n")) onReady();
  });
  const index = new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(Number(out.slice("ready\n".length))) : reject(new Error(`exit ${code}`)),
    );
  });
  return { ready, go: () => child.stdin.write("x"), index };
}

describe("lab robot indices", () => {
  it("six processes claiming at the same moment get six different indices", async () => {
    const c = claims();
    const names = ["ra", "rb", "rc", "rd", "re", "rf"];
    const children = names.map((n) => claimer(c, n));
    await Promise.all(children.map((ch) => ch.ready));
    for (const ch of children) ch.go();
    const indices = await Promise.all(children.map((ch) => ch.index));
    expect([...indices].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    for (const [i, n] of names.entries()) {
      expect(readFileSync(join(c.dir, String(indices[i])), "utf8")).toBe(n);
    }
  }, 60_000);

  it("a claim whose owner is still coming up (its directory, no index file yet) is not taken", () => {
    const c = claims();
    mkdirSync(c.dir, { recursive: true });
    writeFileSync(join(c.dir, "1"), "early");
    mkdirSync(c.pathsOf("early").dir, { recursive: true });
    expect(allocateIndex("late", c.pathsOf("late"), c)).toBe(2);
  });

  it("a claim whose owner is gone (no directory) is taken over", () => {
    const c = claims();
    mkdirSync(c.dir, { recursive: true });
    writeFileSync(join(c.dir, "1"), "gone");
    expect(allocateIndex("next", c.pathsOf("next"), c)).toBe(1);
    expect(readFileSync(join(c.dir, "1"), "utf8")).toBe("next");
    expect(readFileSync(c.pathsOf("next").indexFile, "utf8")).toBe("1\n");
  });
});

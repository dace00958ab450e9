// Loading a command must not load grpc-js (and node:http2): only the connect does (evaluates it:
// the bundle is one file, what a dynamic import() reaches runs when imported), so that the
// deploy's early `nix path-info` runs while grpc-js loads (issue 13). Checked on the bundle's
// module graph (esbuild's metafile): what a module imports statically is evaluated with it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

interface Metafile {
  readonly inputs: Record<
    string,
    { readonly imports: readonly { readonly path: string; readonly kind: string }[] }
  >;
}

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const GRPC = /(^|\/)node_modules\/@grpc\/grpc-js\/|^(node:)?http2$/;

let dir: string;
let meta: Metafile;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "bundle-graph-"));
  execFileSync(process.execPath, ["controller/bundle.mjs", join(dir, "out"), join(dir, "meta.json")], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as Metafile;
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first module matching `wanted` that `start` loads with it (static imports), as the chain of imports to it. */
function loadedWith(start: string, wanted: RegExp): string | undefined {
  expect(meta.inputs[start], `${start} is in the bundle`).toBeDefined();
  const from = new Map<string, string | undefined>([[start, undefined]]);
  const queue = [start];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (wanted.test(file)) {
      const chain: string[] = [];
      for (let f: string | undefined = file; f !== undefined; f = from.get(f)) chain.unshift(f);
      return chain.join(" -> ");
    }
    for (const i of meta.inputs[file]?.imports ?? []) {
      if (i.kind === "dynamic-import" || from.has(i.path)) continue;
      from.set(i.path, file);
      queue.push(i.path);
    }
  }
  return undefined;
}

describe("the bundle's module graph", () => {
  it.each([
    "cli.ts",
    "commands/deploy.ts",
    "commands/rollout.ts",
    "commands/plan.ts",
    "commands/status.ts",
    "commands/confirm.ts",
  ])("%s loads no grpc-js and no node:http2", (file) => {
    expect(loadedWith(`controller/src/${file}`, GRPC)).toBeUndefined();
  });

  it("the connect loads grpc-js (the walk finds it where it is)", () => {
    expect(loadedWith("controller/src/agent-api/connect.ts", GRPC)).toMatch(/grpc-js/);
  });

  it("grpc-js's server side and service-config balancers are stubs (grpc-client-only.mjs)", () => {
    const files = Object.keys(meta.inputs);
    const grpcFile = (name: string) => `node_modules/@grpc/grpc-js/build/src/${name}.js`;
    for (const name of [
      "server",
      "server-call",
      "server-interceptors",
      "orca",
      "load-balancer-outlier-detection",
    ])
      expect(files).not.toContain(grpcFile(name));
    expect(files).toContain("grpc-client-only:server");
    expect(files).toContain(grpcFile("client"));
  });
});

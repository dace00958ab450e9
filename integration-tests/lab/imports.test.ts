// The packages' import rules (import-graph.ts), on the repository and on small trees that break each.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { REPO_ROOT } from "./config.js";
import { importProblems } from "./import-graph.js";

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A repository of workspaces agent and controller, the test-only e2e/, and the given files. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "imports-"));
  made.push(root);
  const all: Record<string, string> = {
    "package.json": JSON.stringify({ workspaces: ["agent", "controller"] }),
    "agent/package.json": JSON.stringify({ name: "@x/agent" }),
    "controller/package.json": JSON.stringify({ name: "@x/controller" }),
    "e2e/package.json": JSON.stringify({ name: "@x/e2e" }),
    ...files,
  };
  for (const [path, text] of Object.entries(all)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe("import rules", () => {
  it("the repository keeps them all", () => {
    expect(importProblems(REPO_ROOT)).toEqual([]);
  });

  it("finds a circle, type-only imports and multi-line imports included", () => {
    const root = tree({
      "agent/src/a.ts": 'import type {\n  B,\n} from "./b.js";\nexport type A = B;\n',
      "agent/src/b.ts": 'export type { A } from "./a.js";\nexport type B = number;\n',
      "agent/src/c.ts": 'import { x } from "./d.js";\nexport const c = x;\n',
      "agent/src/d.ts": "export const x = 1;\n",
    });
    expect(importProblems(root)).toEqual(["import circle: agent/src/a.ts → agent/src/b.ts → agent/src/a.ts"]);
  });

  it("refuses the agent importing the controller and the controller importing the agent", () => {
    const root = tree({
      "agent/src/a.test.ts": 'import { c } from "@x/controller/testing";\n',
      "controller/src/c.ts": 'const m = await import("@x/agent");\n',
    });
    expect(importProblems(root)).toEqual([
      "agent/src/a.test.ts: agent imports controller (@x/controller/testing)",
      "controller/src/c.ts: controller imports agent (@x/agent)",
    ]);
  });

  it("refuses a relative path into another package, even from e2e", () => {
    const root = tree({
      "agent/src/a.ts": "export const a = 1;\n",
      "e2e/src/t.test.ts": 'import { a } from "../../agent/src/a.js";\n',
    });
    expect(importProblems(root)).toEqual([
      "e2e/src/t.test.ts: reaches into agent by a relative path (../../agent/src/a.js)",
    ]);
  });
});

describe("folder import rule", () => {
  it("finds two controller folders that import each other through different files", () => {
    const root = tree({
      "controller/src/report/a.ts": 'import { b } from "../rollout/b.js";\nexport const a = b;\n',
      "controller/src/rollout/b.ts": "export const b = 1;\n",
      "controller/src/rollout/c.ts": 'import { d } from "../report/d.js";\nexport const c = d;\n',
      "controller/src/report/d.ts": "export const d = 1;\n",
      "controller/src/report/d.test.ts": 'import { c } from "../rollout/c.js";\n',
    });
    expect(importProblems(root)).toEqual([
      "folder circle in controller/src: report → rollout (controller/src/report/a.ts) → report (controller/src/rollout/c.ts)",
    ]);
  });

  it("counts a loose x.ts as the front of folder x/, and leaves tests out", () => {
    const root = tree({
      "controller/src/api.ts": 'export type { U } from "./api/u.js";\n',
      "controller/src/api/u.ts": "export type U = 2;\n",
      "controller/src/api/t.ts": 'import type { K } from "../core/k.js";\nexport type T = K;\n',
      "controller/src/core/k.ts": 'import type { U } from "../api.js";\nexport type K = U | 1;\n',
      "controller/src/core/k.test.ts": 'import { x } from "../other/x.js";\n',
      "controller/src/other/x.ts": 'import type { K } from "../core/k.js";\nexport const x: K = 1;\n',
    });
    expect(importProblems(root)).toEqual([
      "folder circle in controller/src: api → core (controller/src/api/t.ts) → api (controller/src/core/k.ts)",
    ]);
  });
});

// The import statements of the workspaces as a graph, and the rules the packages keep: no import
// circle (of files, or of controller/src folders: folder-graph.ts), the agent and the controller
// never import each other, and no file reaches into another package by a relative path (a
// package's test helpers come from its "./testing" export).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { folderProblems } from "./folder-graph.js";

export interface Workspace {
  /** Folder, relative to the repository. */
  readonly dir: string;
  /** package.json "name". */
  readonly name: string;
}

/** Workspaces that may import the internals of the others (the lab's checks of the agent config). */
const HARNESSES = new Set(["integration-tests"]);
/** Packages that must never import each other, in either direction. */
const STRANGERS: readonly (readonly [string, string])[] = [["agent", "controller"]];
const SKIP = new Set(["node_modules", "dist", "gen"]);
/**
 * Packages of tests only, not npm workspaces: e2e/ has no dependencies of its own, and a workspace
 * would change the lock the Nix build fetches from (nix/npm-deps.json's digest).
 */
const TEST_ONLY = ["e2e"];

export function workspaces(root: string): Workspace[] {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { workspaces: string[] };
  return [
    ...new Set([...pkg.workspaces, ...TEST_ONLY.filter((d) => existsSync(join(root, d, "package.json")))]),
  ].map((dir) => {
    const own = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as { name: string };
    return { dir, name: own.name };
  });
}

function sources(dir: string, into: string[] = []): string[] {
  if (!existsSync(dir)) return into;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sources(path, into);
    else if (/\.m?ts$/.test(entry.name) && !entry.name.endsWith(".d.ts")) into.push(path);
  }
  return into;
}

const STATIC =
  /^\s*(?:import|export)\s+(?:type\s+)?(?:[\w$]+\s*,?\s*)?(?:\*\s*as\s+[\w$]+\s*)?(?:\*\s*)?(?:\{[^}]*\}\s*)?from\s*["']([^"']+)["']/gm;
const BARE = /^\s*import\s*["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** The module specifiers a file imports (static, side-effect and dynamic imports). */
export function specifiers(text: string): string[] {
  return [...text.matchAll(STATIC), ...text.matchAll(BARE), ...text.matchAll(DYNAMIC)].map((m) => m[1] ?? "");
}

function resolveRelative(from: string, spec: string): string {
  const path = resolve(dirname(from), spec);
  for (const candidate of [path, path.replace(/\.js$/, ".ts"), path.replace(/\.mjs$/, ".mts")]) {
    if (existsSync(candidate)) return candidate;
  }
  return path;
}

/** Every broken rule, one line each (empty: all kept). */
export function importProblems(root: string): string[] {
  const spaces = workspaces(root);
  const home = (file: string): Workspace | undefined =>
    spaces.find((w) => file.startsWith(resolve(root, w.dir) + sep));
  const short = (name: string) => name.replace(/^@[^/]+\//, "");
  const problems: string[] = [];
  const edges = new Map<string, string[]>();
  for (const space of spaces) {
    for (const file of sources(resolve(root, space.dir))) {
      const out: string[] = [];
      for (const spec of specifiers(readFileSync(file, "utf8"))) {
        let target: Workspace | undefined;
        if (spec.startsWith(".")) {
          const to = resolveRelative(file, spec);
          target = home(to);
          if (target === space) out.push(to);
          else if (!HARNESSES.has(space.dir)) {
            problems.push(
              `${relative(root, file)}: reaches into ${target?.dir ?? "?"} by a relative path (${spec})`,
            );
          }
        } else {
          target = spaces.find((w) => spec === w.name || spec.startsWith(`${w.name}/`));
        }
        if (target === undefined) continue;
        for (const [a, b] of STRANGERS) {
          const pair = [short(space.name), short(target.name)];
          if ((pair[0] === a && pair[1] === b) || (pair[0] === b && pair[1] === a)) {
            problems.push(`${relative(root, file)}: ${pair[0]} imports ${pair[1]} (${spec})`);
          }
        }
      }
      edges.set(file, out);
    }
  }
  for (const circle of circles(edges))
    problems.push(`import circle: ${circle.map((f) => relative(root, f)).join(" → ")}`);
  problems.push(...folderProblems(root, { specifiers, circles }));
  return problems;
}

/** One circle per strongly connected group of files (Tarjan), each closed: a → b → a. */
export function circles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string | undefined;
    do {
      w = stack.pop();
      if (w === undefined) break;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || (edges.get(v) ?? []).includes(v))
      found.push(pathThrough(edges, new Set(group), v));
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** A closed walk from `start` back to it inside `group` (breadth-first, so a short one). */
function pathThrough(
  edges: ReadonlyMap<string, readonly string[]>,
  group: Set<string>,
  start: string,
): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const w of edges.get(v) ?? []) {
      if (!group.has(w)) continue;
      if (w === start) {
        const walk = [start];
        for (let x: string | undefined = v; x !== undefined && x !== start; x = prev.get(x))
          walk.splice(1, 0, x);
        return [...walk, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

// Folder-level import rule: inside a package's src/, the folders (one concern each) import each
// other one way only. A file-level check misses report/a.ts → rollout/b.ts → report/c.ts; this
// one does not. Tests are left out (a folder's tests may use any folder's helpers).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

/** The src/ folders whose subfolders must not import each other in a circle. */
export const FOLDER_RULES: readonly string[] = ["controller/src"];

export interface FolderGraphDeps {
  readonly specifiers: (text: string) => string[];
  readonly circles: (edges: ReadonlyMap<string, readonly string[]>) => string[][];
}

function productionFiles(dir: string, into: string[] = []): string[] {
  if (!existsSync(dir)) return into;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "gen") continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) productionFiles(path, into);
    else if (/\.m?ts$/.test(entry.name) && !/\.(test|d)\.m?ts$/.test(entry.name)) into.push(path);
  }
  return into;
}

/**
 * The folder a file belongs to: its first folder under `base`; a loose `x.ts` beside a folder
 * `x/` is that folder's front (agent-api.ts), any other loose file is a node of its own.
 */
function folderOf(base: string, file: string): string {
  const [first = "", ...rest] = relative(base, file).split(sep);
  if (rest.length > 0) return first;
  const stem = first.replace(/\.m?ts$/, "");
  return existsSync(join(base, stem)) ? stem : first;
}

/** Every folder circle under each of FOLDER_RULES, one line each. */
export function folderProblems(
  root: string,
  deps: FolderGraphDeps,
  rules: readonly string[] = FOLDER_RULES,
): string[] {
  const problems: string[] = [];
  for (const rule of rules) {
    const base = resolve(root, rule);
    const edges = new Map<string, Set<string>>();
    /** "a → b": the first file found that makes the edge. */
    const example = new Map<string, string>();
    for (const file of productionFiles(base)) {
      const from = folderOf(base, file);
      const out = edges.get(from) ?? new Set<string>();
      edges.set(from, out);
      for (const spec of deps.specifiers(readFileSync(file, "utf8"))) {
        if (!spec.startsWith(".")) continue;
        const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
        if (!target.startsWith(base + sep)) continue;
        const to = folderOf(base, target);
        if (to === from) continue;
        const key = `${rule}/${from} → ${rule}/${to}`;
        out.add(to);
        if (!example.has(key)) example.set(key, relative(root, file));
      }
    }
    const graph = new Map([...edges].map(([k, v]) => [k, [...v]]));
    for (const circle of deps.circles(graph)) {
      const hops = circle.slice(1).map((to, i) => {
        const key = `${rule}/${circle[i]} → ${rule}/${to}`;
        return `${to} (${example.get(key) ?? "?"})`;
      });
      problems.push(`folder circle in ${rule}: ${circle[0]} → ${hops.join(" → ")}`);
    }
  }
  return problems;
}

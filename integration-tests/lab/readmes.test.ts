// The READMEs as a newcomer meets them: a short front door that says how to try it, each README
// at most 16 KiB, and no link or source file named in any README that is not there (a code map
// that drifted from its folder).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./config.js";

const SKIP = new Set(["node_modules", "dist", ".git", "gen"]);

function walk(dir: string, into: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, into);
    else into.push(path);
  }
  return into;
}

const files = walk(REPO_ROOT);
const readmes = files.filter((f) => f.endsWith("/README.md"));
const read = (path: string): string => readFileSync(path, "utf8");

/** Markdown links (`[text](target)`, `[label]: target`) that point into the repository. */
function relativeLinks(markdown: string): string[] {
  const targets = [
    ...[...markdown.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] ?? ""),
    ...[...markdown.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1] ?? ""),
  ];
  return targets
    .filter((t) => t !== "" && !/^([a-z]+:|#)/i.test(t))
    .map((t) => decodeURI(t.split("#")[0] ?? ""));
}

/** Backticked TypeScript file names (`cli.ts`, `src/core/args.ts`): what a code map names. */
const sourceNames = (markdown: string): string[] =>
  [...markdown.matchAll(/`([\w./-]+\.(?:ts|mjs|sh|nix))`/g)]
    .map((m) => m[1] ?? "")
    .filter((n) => !n.includes("*"));

/** A name resolves against the README's folder (its src/, its parent), the repo root, or, bare, any file below the folder. */
function resolves(readme: string, name: string): boolean {
  const dir = dirname(readme);
  const bases = [dir, join(dir, "src"), dirname(dir), REPO_ROOT];
  if (bases.some((b) => existsSync(resolve(b, name)))) return true;
  if (name.includes("/")) return files.some((f) => f.endsWith(`/${name}`) && f.startsWith(`${dir}/`));
  return files.some((f) => f.startsWith(`${dir}/`) && f.endsWith(`/${name}`));
}

/** The "## Code map" section of a README, or undefined. */
function codeMap(markdown: string): string | undefined {
  const at = markdown.search(/^## Code map\s*$/m);
  if (at < 0) return undefined;
  const rest = markdown.slice(at).split("\n").slice(1).join("\n");
  const next = rest.search(/^## /m);
  return next < 0 ? rest : rest.slice(0, next);
}

/** What a code map names at its src/ top level: `src/a/`, `a/`, `src/b.ts`, `b.ts`, `a/x.ts` → a, b.ts. */
const mapped = (map: string): Set<string> =>
  new Set(
    [...map.matchAll(/`([\w./-]+)`/g)].map((m) => (m[1] ?? "").replace(/^src\//, "").split("/")[0] ?? ""),
  );

describe("READMEs", () => {
  const front = read(join(REPO_ROOT, "README.md"));

  it("every README is at most 16 KiB (a map, not a lab notebook: detail goes to its folder's README)", () => {
    const over = readmes
      .map((r) => ({ readme: relative(REPO_ROOT, r), bytes: Buffer.byteLength(read(r)) }))
      .filter((r) => r.bytes > 16 * 1024)
      .map((r) => `${r.readme}: ${r.bytes} bytes`);
    expect(over).toEqual([]);
  });

  it("the root README's first 80 lines hold `npm run demo` and `npm test` as command lines", () => {
    const lines = front.split("\n").slice(0, 80);
    const commands: string[] = [];
    let inBlock = false;
    for (const line of lines) {
      if (line.startsWith("```")) inBlock = !inBlock;
      else if (inBlock)
        commands.push(
          line
            .replace(/^\$\s+/, "")
            .replace(/\s+#.*$/, "")
            .trim(),
        );
    }
    expect(commands).toContain("npm run demo");
    expect(commands).toContain("npm test");
  });

  it("bench/README.md is at most 300 lines", () => {
    expect(read(join(REPO_ROOT, "bench/README.md")).trimEnd().split("\n").length).toBeLessThanOrEqual(300);
  });

  it("every relative link in every README resolves to a file or folder", () => {
    expect(readmes.length).toBeGreaterThan(5);
    const broken = readmes.flatMap((readme) =>
      relativeLinks(read(readme))
        .filter((link) => !existsSync(resolve(dirname(readme), link)))
        .map((link) => `${relative(REPO_ROOT, readme)}: ${link}`),
    );
    expect(broken).toEqual([]);
  });

  it("every source file a README names exists", () => {
    const missing = readmes.flatMap((readme) =>
      sourceNames(read(readme))
        .filter((name) => !resolves(readme, name))
        .map((name) => `${relative(REPO_ROOT, readme)}: ${name}`),
    );
    expect(missing).toEqual([]);
  });

  it("every folder with a README is linked from the root README", () => {
    const linked = new Set(relativeLinks(front).map((l) => resolve(REPO_ROOT, l)));
    const unlinked = readmes
      .filter((r) => r !== join(REPO_ROOT, "README.md") && statSync(r).isFile())
      .filter((r) => !linked.has(r) && !linked.has(dirname(r)))
      .filter((r) => relative(REPO_ROOT, r).split("/").length === 2)
      .map((r) => relative(REPO_ROOT, r));
    expect(unlinked).toEqual([]);
  });

  it("every code map names each folder and loose source file of its src/", () => {
    const withMaps = readmes.filter(
      (r) => codeMap(read(r)) !== undefined && existsSync(join(dirname(r), "src")),
    );
    expect(withMaps.map((r) => relative(REPO_ROOT, r))).toEqual(
      expect.arrayContaining(["agent/README.md", "controller/README.md"]),
    );
    const unnamed = withMaps.flatMap((readme) => {
      const named = mapped(codeMap(read(readme)) ?? "");
      return readdirSync(join(dirname(readme), "src"), { withFileTypes: true })
        .filter((e) => !SKIP.has(e.name) && (e.isDirectory() || /^[^.]+\.m?ts$/.test(e.name)))
        .filter((e) => !named.has(e.name))
        .map((e) => `${relative(REPO_ROOT, readme)}: src/${e.name}${e.isDirectory() ? "/" : ""}`);
    });
    expect(unnamed).toEqual([]);
  });
});

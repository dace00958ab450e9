// Writes a copy of a package-lock.json (v2/v3) in which every registry entry that lacks `resolved`
// gets the registry's tarball URL. The repository's lock file keeps no registry addresses; Nix's
// fetchNpmDeps (prefetch-npm-deps) caches only entries that have a `resolved` URL and skips the others,
// and `npm ci --offline` then fails with ENOTCACHED. The registry comes from the build (npm's own
// default, `npm config get registry`), never from a file in this repository.
//
//   node lock-with-resolved.mjs REGISTRY_URL < package-lock.json > package-lock.json.out
import { readFileSync } from "node:fs";

/** The tarball URL npm's registry serves for NAME@VERSION (scoped names keep their scope in the path only). */
export function tarballUrl(registry, name, version) {
  const base = registry.endsWith("/") ? registry : `${registry}/`;
  const unscoped = name.startsWith("@") ? name.slice(name.indexOf("/") + 1) : name;
  return `${base}${name}/-/${unscoped}-${version}.tgz`;
}

/** Returns a new lock object; entries that are links, bundled, or already resolved are left as they are. */
export function addResolved(lock, registry) {
  if (lock === null || typeof lock !== "object" || typeof lock.packages !== "object") {
    throw new Error("not a package-lock.json with a packages map (lockfileVersion 2 or 3)");
  }
  if (lock.lockfileVersion !== 2 && lock.lockfileVersion !== 3) {
    throw new Error(`unsupported lockfileVersion ${lock.lockfileVersion}`);
  }
  if (!/^https?:\/\/[^\s]+$/.test(registry))
    throw new Error(`not a registry URL: ${JSON.stringify(registry)}`);
  const packages = {};
  for (const [key, entry] of Object.entries(lock.packages)) {
    const at = key.lastIndexOf("node_modules/");
    const fromRegistry =
      at >= 0 &&
      !entry.link &&
      !entry.inBundle &&
      entry.resolved === undefined &&
      typeof entry.version === "string" &&
      typeof entry.integrity === "string";
    if (!fromRegistry) {
      packages[key] = entry;
      continue;
    }
    const name = typeof entry.name === "string" ? entry.name : key.slice(at + "node_modules/".length);
    // Keep npm's key order: version, resolved, integrity, …
    const out = {};
    for (const [k, v] of Object.entries(entry)) {
      out[k] = v;
      if (k === "version") out.resolved = tarballUrl(registry, name, entry.version);
    }
    packages[key] = out;
  }
  return { ...lock, packages };
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const registry = process.argv[2];
  if (!registry) {
    process.stderr.write("usage: node lock-with-resolved.mjs REGISTRY_URL < package-lock.json\n");
    process.exit(2);
  }
  const lock = JSON.parse(readFileSync(0, "utf8"));
  process.stdout.write(`${JSON.stringify(addResolved(lock, registry), null, 2)}\n`);
}

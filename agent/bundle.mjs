// Bundles the agent into one ES module, dist/bundle/agent.mjs (dist/main.js and what it imports,
// node_modules included), for the lab's VM robot: under QEMU's TCG, Node loading tsc's ~170 files
// and node_modules' ~480 one by one was most of the agent's start (integration-tests/lab/README.md
// "VM robots"). The NixOS package still runs dist/main.js. Run after tsc (`npm run build`).
// Left out: the systemd-journald addon (native) and what the agent imports lazily on first use
// (rosnodejs, @grpc/reflection, @grpc/proto-loader): they load from node_modules as before.
import { readFile } from "node:fs/promises";
import { dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const outfile = here("dist/bundle/agent.mjs");

// Modules name files next to themselves (proto's .proto, the agent's package.json, createRequire):
// each keeps its own import.meta.url, made from the bundle's and the module's place beside it.
const ownUrl = {
  name: "own-import-meta-url",
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/].*\.js$/ }, async (args) => {
      const text = await readFile(args.path, "utf8");
      if (!text.includes("import.meta.url")) return undefined;
      const rel = relative(dirname(outfile), args.path).split("\\").join("/");
      return {
        contents: text.replaceAll("import.meta.url", `new URL(${JSON.stringify(rel)}, import.meta.url).href`),
        loader: "js",
      };
    });
  },
};

await build({
  entryPoints: [here("dist/main.js")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["systemd-journald", "rosnodejs", "@grpc/reflection", "@grpc/proto-loader"],
  plugins: [ownUrl],
  // CommonJS packages inside an ES module bundle call require() for Node's own modules.
  banner: {
    js: 'import { createRequire as __agentRequire } from "node:module";\nconst require = __agentRequire(import.meta.url);',
  },
  logLevel: "warning",
});

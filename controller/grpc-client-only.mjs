// An esbuild plugin for the controller's bundle: grpc-js's server side and the load balancers that a
// service config must name (outlier detection, weighted round robin with its ORCA client) are left
// out — ~165 KB of the 620 KB of grpc-js and protocol code that the controller, a client picking the first address and
// resolving no service config ("grpc.service_config_disable_resolution" in agent-api/connect.ts),
// never runs (issue 13: start-up CPU).
// grpc-js's index.js still requires them: each is replaced by a module whose `setup()` (called at
// load, registering the balancer) does nothing and whose every other export throws when used.
const LEFT_OUT = [
  "server",
  "server-call",
  "server-credentials",
  "server-interceptors",
  "orca",
  "load-balancer-outlier-detection",
  "load-balancer-weighted-round-robin",
];
const SPEC = new RegExp(`^\\./(${LEFT_OUT.join("|")})$`);
const GRPC_SRC = /[\\/]node_modules[\\/]@grpc[\\/]grpc-js[\\/]build[\\/]src[\\/][^\\/]+\.js$/;
const NAMESPACE = "grpc-client-only";

export const grpcClientOnly = {
  name: NAMESPACE,
  setup(build) {
    build.onResolve({ filter: SPEC }, (args) =>
      GRPC_SRC.test(args.importer) ? { path: args.path.slice(2), namespace: NAMESPACE } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
      loader: "js",
      contents: `const left = ${JSON.stringify(args.path)};
module.exports = new Proxy({ __esModule: true, setup() {} }, {
  get(target, key) {
    if (typeof key === "symbol" || key in target) return target[key];
    throw new Error(\`grpc-js's \${left}.js (\${key}) is not in the controller's bundle: it is a client only\`);
  },
});
`,
    }));
  },
};

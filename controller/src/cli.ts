#!/usr/bin/env node
/**
 * The composition root: the only file that touches `process`, and the one
 * place where the real implementations (grpc-js connection, local Nix store)
 * are chosen. Everything else gets them passed in.
 */
import type { ConnectAgent } from "./agent-api.js";
import type { ClosureOps } from "./closure/port.js";
import type { Deps } from "./context/command.js";
import { ExitCode, InterruptedError } from "./core/errors.js";
import { exitWhenFlushed } from "./core/exit.js";
import { handleInterrupts } from "./core/interrupt.js";
import { type Io, sleep } from "./core/io.js";
import { main } from "./main.js";
import { lazyMessages } from "./push/lazy-messages.js";

// Imported when first used: `--help` and commands that never connect or read the store skip
// loading grpc-js, the protocol code and the closure code (start-up time, issue 13).
// The push encoder loads with the closure code: the signing before a push loads both.
type ClosureModule = typeof import("./closure/index.js") & typeof import("./push/push-requests.js");
let closureLoaded: ClosureModule | undefined;
const closureModule = async (): Promise<ClosureModule> => {
  if (closureLoaded === undefined) {
    const [closure, push] = await Promise.all([
      import("./closure/index.js"),
      import("./push/push-requests.js"),
    ]);
    closureLoaded = { ...closure, ...push };
  }
  return closureLoaded;
};

// The local Nix store: nix and nix-store (and zstd) from PATH, Nix's default store.
const closureOps: ClosureOps = {
  // Its own module: a redeploy that pushes nothing never loads the push, signing and upload code.
  computeClosure: async (storePath, signal) =>
    (await import("./closure/compute-closure.js")).computeClosure(storePath, signal),
  signPaths: async (infos, secretKeyFile, signal) =>
    (await closureModule()).signPaths(infos, secretKeyFile, signal),
  // Loaded by the signing before it, or on the first message (`written` follows the messages).
  pushRequests: (infos, options, signal) =>
    closureLoaded?.pushRequests(infos, options, signal) ??
    lazyMessages(async () => (await closureModule()).pushRequests(infos, options, signal)),
  uploadClosure: async (storePath, storeUri, keyFile, signal) =>
    (await closureModule()).uploadClosure(storePath, storeUri, keyFile, signal),
};

// One TLS cache for the run (off: ROS_ROLLBACK_TLS_CACHE=off).
let connector: Promise<ConnectAgent> | undefined;
const connect: ConnectAgent = async (...args) => {
  connector ??= import("./push/transport/connect-agent.js").then((m) =>
    process.env.ROS_ROLLBACK_TLS_CACHE === "off" ? m.connectAgent : m.connectAgentCached(),
  );
  return (await connector)(...args);
};

const deps: Deps = { connect, closure: closureOps };

const io: Io = {
  stdout: process.stdout,
  stderr: {
    write: (text) => process.stderr.write(text),
    get isTTY() {
      return process.stderr.isTTY === true;
    },
    get columns() {
      // 0 or undefined on some ptys (script, CI): assume a classic terminal.
      return process.stderr.columns || 80;
    },
  },
  env: process.env,
  cwd: process.cwd(),
  now: Date.now,
  sleep,
};

// grpc-js passes an IP address as TLS ServerName when a robot is addressed by
// IP; Node's deprecation notice about that is noise for an operator.
process.noDeprecation = true;

// First Ctrl-C (or SIGTERM): abort the push/stream cleanly and report what state the robot may
// be in, within a second (core/interrupt.ts). A second one: leave at once.
const interrupt = new AbortController();
handleInterrupts(
  {
    on: (signal, listener) => process.on(signal, listener),
    write: (text) => process.stderr.write(text),
    die: (signal) => {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      // Should the signal be ignored (SIG_IGN inherited from the parent), still end.
      setTimeout(() => process.kill(process.pid, "SIGKILL"), 200);
    },
    later: (ms, run) => setTimeout(run, ms).unref(),
  },
  () => interrupt.abort(new InterruptedError()),
);

// Exits as soon as the output is out, not when the last handle closes (core/exit.ts).
const exit = (code: number) =>
  exitWhenFlushed(code, [process.stdout, process.stderr], (c) => process.exit(c));
main(process.argv.slice(2), io, deps, interrupt.signal).then(exit, (e: unknown) => {
  // main() renders every error itself; reaching this is a bug in the renderer.
  process.stderr.write(`ros-rollback: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
  exit(ExitCode.Bug);
});

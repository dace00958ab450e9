// Bad TLS files and signals through the shipped bundle as a process (issue 24): a clear error at
// once, and SIGTERM / Ctrl-C end the CLI within about a second even while an operation is stuck.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, constants, mkdirSync, openSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBundle } from "./testing/bundled-cli.js";
import { makeTestPki, type TestPki } from "./testing/pki.js";

// Prints the process's peak RSS (kB) as it exits; stderr on a pipe is written synchronously.
const PEAK_RSS =
  'data:text/javascript,process.on("exit",()=>process.stderr.write("peak-rss-kb="+process.resourceUsage().maxRSS+"\\n"))';

let dir: string;
let pki: TestPki;

beforeAll(() => {
  dir = buildBundle("cli-signals-");
  pki = makeTestPki(join(dir, "pki"));
  mkdirSync(join(dir, "files"));
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  /** From the start (or from `onStarted`'s signal) to the end. */
  readonly ms: number;
}

/** The bundled CLI with `args`; `onStarted(send)` may signal it. Killed (SIGKILL) after 10 s. */
function cli(args: readonly string[], onStarted?: (send: (s: NodeJS.Signals) => void) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", PEAK_RSS, join(dir, "out", "cli.js"), ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ROS_ROLLBACK_CODE_CACHE: "off" },
    });
    let started = performance.now();
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.on("error", reject);
    child.on("spawn", () =>
      onStarted?.((s) => {
        started = performance.now();
        child.kill(s);
      }),
    );
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, ms: performance.now() - started });
    });
  });
}

const peakRssMb = (stderr: string) => Number(/peak-rss-kb=(\d+)/.exec(stderr)?.[1]) / 1024;

function inventory(name: string, robot: Record<string, string>): string {
  const file = join(dir, "files", name);
  const target = { address: "127.0.0.1:1", caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey };
  writeFileSync(file, JSON.stringify({ targets: { robot1: { ...target, ...robot } } }));
  return file;
}

const status = (inv: string, ...more: string[]) => [
  "status",
  "--inventory",
  inv,
  "--target",
  "robot1",
  ...more,
];

/** A FIFO the CLI blocks in: its open() waits for a writer, then its read() for bytes never written. */
function stalledFifo(name: string): { path: string; readerWaiting(): Promise<number> } {
  const path = join(dir, "files", name);
  execFileSync("mkfifo", [path]);
  return {
    path,
    // A non-blocking open for writing fails (ENXIO) until a reader has the FIFO open; the writer
    // then lets the reader's open() return, and its read() waits for bytes that never come.
    async readerWaiting() {
      for (;;) {
        try {
          return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    },
  };
}

describe("TLS files that are not certificates, through the real CLI", () => {
  it.each([
    ["/dev/zero", () => "/dev/zero", "is a character device, not a regular file"],
    [
      "a sparse 1 GB file",
      () => {
        const big = join(dir, "files", "big.pem");
        writeFileSync(big, "");
        truncateSync(big, 1024 ** 3);
        return big;
      },
      `is ${1024 ** 3} bytes, more than the 1048576 a TLS file may have`,
    ],
    [
      "a FIFO nobody writes",
      () => {
        const p = join(dir, "files", "ca.fifo");
        execFileSync("mkfifo", [p]);
        return p;
      },
      "is a FIFO, not a regular file",
    ],
  ])("caFile %s: one line and exit 1 at once, memory bounded", async (_what, make, why) => {
    const caFile = make();
    const r = await cli(status(inventory("zero.json", { caFile })));
    expect(r).toMatchObject({ code: 1, signal: null });
    expect(r.stderr.split("\n")[0]).toBe(`error: robot1: caFile ${caFile}: ${why}`);
    // Measured ~0.2 s; generous for a loaded machine: the claim is that it ends, unread.
    expect(r.ms).toBeLessThan(5_000);
    expect(peakRssMb(r.stderr)).toBeLessThan(200);
  });

  it("an empty CA: 'empty CA file', not a TLS error", async () => {
    const empty = join(dir, "files", "empty-ca.pem");
    writeFileSync(empty, "");
    const r = await cli(status(inventory("empty.json", { caFile: empty })));
    expect(r).toMatchObject({ code: 1, signal: null });
    expect(r.stderr).toMatch(new RegExp(`^error: robot1: caFile ${empty}: empty CA file\\n`));
  });
});

describe("signals end the CLI", () => {
  it("SIGTERM while it is stuck reading a stalled pipe: it dies by SIGTERM within about a second", async () => {
    const fifo = stalledFifo("stalled-term.json");
    let writer: number | undefined;
    const r = await cli(status(fifo.path), (send) => {
      void fifo.readerWaiting().then((fd) => {
        writer = fd;
        send("SIGTERM");
      });
    });
    if (writer !== undefined) closeSync(writer);
    expect(r.stderr).toContain("SIGTERM: stopping");
    expect(r.stderr).toContain("SIGTERM: not stopped within 1 s: exiting without cleanup");
    expect(r).toMatchObject({ code: null, signal: "SIGTERM" });
    expect(r.ms).toBeLessThan(5_000); // measured ~1.05 s
  });

  it("a second Ctrl-C while stuck: it dies by SIGINT at once", async () => {
    const fifo = stalledFifo("stalled-int.json");
    let writer: number | undefined;
    const r = await cli(status(fifo.path), (send) => {
      void fifo.readerWaiting().then((fd) => {
        writer = fd;
        send("SIGINT");
        setTimeout(() => send("SIGINT"), 100);
      });
    });
    if (writer !== undefined) closeSync(writer);
    expect(r.stderr).toContain("SIGINT again: exiting without cleanup");
    expect(r.stderr).not.toContain("not stopped within");
    expect(r).toMatchObject({ code: null, signal: "SIGINT" });
  });

  describe("while connecting to an agent that never answers", () => {
    let server: Server;
    const sockets = new Set<Socket>();
    let connected: () => void = () => undefined;
    beforeAll(async () => {
      server = createServer((s) => {
        sockets.add(s);
        connected();
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    });

    it("SIGTERM stops it cleanly: the command's own exit code and message", async () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      const inv = inventory("silent.json", { address: `127.0.0.1:${port}` });
      const r = await cli(status(inv, "--connect-timeout", "30"), (send) => {
        connected = () => send("SIGTERM");
      });
      expect(r).toMatchObject({ code: 1, signal: null });
      expect(r.stderr).toContain("SIGTERM: stopping");
      expect(r.stderr).toContain("error: ");
      expect(r.stderr).not.toContain("not stopped within");
    });
  });
});

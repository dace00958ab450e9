import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withDeadline } from "./with-deadline.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

describe("withDeadline", () => {
  const server = createServer(() => {}); // accepts, never answers
  let url: string;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hang`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("ends a fetch to a server that never answers even when garbage collections run meanwhile", async () => {
    // With AbortSignal.any([parent, AbortSignal.timeout(300)]) this fetch hangs on Node 20.
    const parent = new AbortController();
    const d = withDeadline(parent.signal, 300);
    const collecting = setInterval(gc, 20);
    try {
      const outcome = await Promise.race([
        fetch(url, { signal: d.signal }).then(
          () => "answered",
          (e: Error) => e.name,
        ),
        new Promise((r) => setTimeout(() => r("still pending after 10 s"), 10_000)),
      ]);
      expect(outcome).toBe("TimeoutError");
      expect(d.timedOut()).toBe(true);
    } finally {
      clearInterval(collecting);
    }
  });

  it("follows the parent with its reason, and is not a timeout", () => {
    const parent = new AbortController();
    const d = withDeadline(parent.signal, 60_000);
    parent.abort(new Error("cancelled"));
    expect(d.signal.aborted).toBe(true);
    expect((d.signal.reason as Error).message).toBe("cancelled");
    expect(d.timedOut()).toBe(false);
    const already = withDeadline(parent.signal, 60_000);
    expect(already.signal.aborted).toBe(true);
  });

  it("cleared: never aborts, and leaves no listener on the parent", async () => {
    const parent = new AbortController();
    const d = withDeadline(parent.signal, 20);
    d.clear();
    await new Promise((r) => setTimeout(r, 60));
    expect(d.signal.aborted).toBe(false);
    parent.abort();
    expect(d.signal.aborted).toBe(false);
  });
});

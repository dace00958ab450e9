import { once } from "node:events";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { run } from "./proc.js";

describe("run with a streamed input", () => {
  it("hands stdin to the child as it arrives (no read-all-first), and forwards its output as it comes", async () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const seen: string[] = [];
    stdout.on("data", (b: Buffer) => seen.push(b.toString()));
    // The second line is produced only after the child has echoed the first:
    // reading all input before starting the child would never get there.
    async function* lines(): AsyncGenerator<string> {
      yield "first\n";
      while (!seen.join("").includes("first")) await once(stdout, "data");
      yield "second\n";
    }
    const r = await run("cat", [], {
      input: Readable.from(lines()),
      output: { stdout, stderr },
      timeoutMs: 10_000,
    });
    expect(r.code).toBe(0);
    expect(seen.join("")).toBe("first\nsecond\n");
    expect(r.stdout).toBe("");
  });

  it("a child that exits without reading all of a stream still reports its own exit code", async () => {
    const endless = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024));
      },
    });
    const r = await run("sh", ["-c", "head -c 10 >/dev/null; exit 3"], { input: endless, check: false });
    expect(r.code).toBe(3);
    endless.destroy();
  });
});

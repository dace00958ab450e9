import { tmpdir } from "node:os";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { filesystemSpace } from "./collector.js";
import { gcMetrics } from "./metrics.js";

describe("gc metrics", () => {
  it("reads the store's filesystem when scraped, leaves an unreadable /boot out, counts collections", async () => {
    const registry = new Registry();
    const observer = gcMetrics(registry, { store: tmpdir(), boot: "/nonexistent/boot" }, filesystemSpace);
    observer.done({
      dryRun: false,
      kept: [],
      removed: [{ number: 3, reason: "failed" }],
      deletedPaths: 5,
      freedBytes: 2048,
      durationMs: 1500,
    });
    observer.failed();
    const text = await registry.metrics();
    // Free bytes move with every other writer on this machine; the size does not.
    const size = /ros_rollback_filesystem_size_bytes\{mount="store"\} (\S+)/.exec(text)?.[1];
    expect(Number(size)).toBe((await filesystemSpace(tmpdir()))?.size);
    expect(text).toMatch(/ros_rollback_filesystem_free_bytes\{mount="store"\} [1-9]/);
    expect(text).not.toMatch(/mount="boot"/);
    expect(text).toMatch(/ros_rollback_gc_freed_bytes_total 2048/);
    expect(text).toMatch(/ros_rollback_gc_generations_deleted_total 1/);
    expect(text).toMatch(/ros_rollback_gc_failures_total 1/);
    expect(text).toMatch(/ros_rollback_gc_duration_seconds_count 1/);
  });
});

import { describe, expect, it } from "vitest";
import { LinkProbe, linkOutrunsCompressor, PROBE_SKIP_WIRE_BYTES, PROBE_WIRE_BYTES } from "./link-probe.js";

describe("linkOutrunsCompressor", () => {
  it.each([
    [200, 100, true], // the transport waited twice as long for zstd: the link is faster
    [199, 100, false],
    [10, 0, true],
    [0, 0, false], // nothing waited: no reason to change
    [0, 500, false], // the link is the bottleneck: compressing pays
  ])("waited %d ms for the compressor, %d ms for the link: %s", (c, l, out) => {
    expect(linkOutrunsCompressor({ waitedForCompressorMs: c, waitedForLinkMs: l, wireBytes: 1 })).toBe(out);
  });
});

describe("LinkProbe", () => {
  it("ignores the first window's worth, then decides once over the measured bytes", () => {
    const seen: unknown[] = [];
    const probe = new LinkProbe({
      decide: (m) => {
        seen.push(m);
        return true;
      },
    });
    const chunk = 1024 * 1024;
    for (let sent = 0; sent < PROBE_SKIP_WIRE_BYTES; sent += chunk) probe.add(1000, 0, chunk); // not counted
    expect(probe.measure).toBeUndefined();
    for (let sent = 0; sent < PROBE_WIRE_BYTES; sent += chunk) probe.add(3, 1, chunk);
    expect(probe.switchToNone).toBe(true);
    expect(seen).toEqual([
      {
        waitedForCompressorMs: (3 * PROBE_WIRE_BYTES) / chunk,
        waitedForLinkMs: PROBE_WIRE_BYTES / chunk,
        wireBytes: PROBE_WIRE_BYTES,
      },
    ]);
    probe.add(0, 1e9, chunk); // decided: later samples change nothing
    expect(seen).toHaveLength(1);
    expect(probe.switchToNone).toBe(true);
  });
});

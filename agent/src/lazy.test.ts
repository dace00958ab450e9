import { describe, expect, it } from "vitest";
import { lazy } from "./lazy.js";

/** A load that waits until released, counting its calls. */
function gatedLoad<T>(value: T) {
  let calls = 0;
  const gates: { release: () => void; fail: (e: Error) => void }[] = [];
  const load = () => {
    calls++;
    return new Promise<T>((ok, fail) => {
      gates.push({ release: () => ok(value), fail });
    });
  };
  return { load, calls: () => calls, gates };
}

describe("lazy", () => {
  it("loads once when first uses race, and every caller gets that one result", async () => {
    const mod = { name: "m" };
    const g = gatedLoad(mod);
    const get = lazy(g.load);
    // Both calls are made before the load settles: the second must not start another.
    const racing = Promise.all([get(), get()]);
    expect(g.calls()).toBe(1);
    g.gates[0]?.release();
    const [a, b] = await racing;
    expect(a).toBe(mod);
    expect(b).toBe(mod);
    expect(await get()).toBe(mod);
    expect(g.calls()).toBe(1);
  });

  it("fails every racing caller of a failed load, then loads again on the next call", async () => {
    const g = gatedLoad("ok");
    const get = lazy(g.load);
    const racing = Promise.allSettled([get(), get()]);
    g.gates[0]?.fail(new Error("cannot load"));
    const settled = await racing;
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
    const again = get();
    expect(g.calls()).toBe(2);
    g.gates[1]?.release();
    expect(await again).toBe("ok");
  });

  it("imports a real module once when two first uses race (the push pipeline)", async () => {
    let imports = 0;
    const get = lazy(() => {
      imports++;
      return import("./store/receive-push.js");
    });
    const [a, b] = await Promise.all([get(), get()]);
    expect(imports).toBe(1);
    expect(a).toBe(b);
    expect(typeof a.receivePush).toBe("function");
  });
});

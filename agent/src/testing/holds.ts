import { tmpdir } from "node:os";
import { join } from "node:path";
import { Holds } from "../holds/holds.js";
import { HoldStore } from "../holds/store.js";
import { Planner } from "../plan/planner.js";
import { ProcessRunner } from "../system/command.js";
import { type FakeSystemInspector, noData } from "./fakes.js";

/** Real holds in a temp dir: a hold store and an (initially missing) hold directory; no conditions. */
export function tmpHolds(dir: string): Holds {
  return new Holds({
    store: new HoldStore(join(dir, "hold-state"), () => Date.now()),
    dir: join(dir, "holds"),
    conditions: [],
    conditionDeps: { unitState: async () => "inactive", ros: undefined },
  });
}

/**
 * A planner over the real nix-store and a real data store with nothing configured; the systems'
 * switch-to-configuration scripts run for real. Running units are asked only when a system
 * declares data writers, which these tests' systems do not.
 */
export function realPlanner(system: FakeSystemInspector): Planner {
  return new Planner({
    runner: new ProcessRunner(),
    system,
    nixStore: "nix-store",
    pathForSwitch: process.env.PATH ?? "/usr/bin:/bin",
    timeoutMs: 20_000,
    data: noData(join(tmpdir(), `rr-planner-${process.pid}`)),
    units: { invocations: () => Promise.reject(new Error("realPlanner: running units were not set up")) },
  });
}

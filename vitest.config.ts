import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "nix-core/src/**/*.test.ts",
            "agent/src/**/*.test.ts",
            "controller/src/**/*.test.ts",
            "relay/src/**/*.test.ts",
            "integration-tests/relay/**/*.test.ts",
            // Agent ↔ controller over real sockets and a real Nix store, at unit speed.
            "e2e/src/**/*.test.ts",
            "integration-tests/lab/**/*.test.ts",
            "integration-tests/support/**/*.test.ts",
            "bench/**/*.test.ts",
          ],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["integration-tests/scenarios/**/*.test.ts"],
          exclude: ["integration-tests/scenarios/vm-*.test.ts"],
          // One lab robot is shared by the scenarios: run files one after another.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          // The VM robot's scenarios (QEMU reboots under TCG); scripts/test.sh runs them in a vitest
          // process of their own beside the integration project.
          name: "vm",
          include: ["integration-tests/scenarios/vm-*.test.ts"],
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});

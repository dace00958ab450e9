import { describe, expect, it } from "vitest";
import { cliJson } from "./cli-json.js";

// What `status --json` printed for a robot rebooting (its agent stopped): exit 1 and this document.
const unreachable = {
  code: 1,
  stdout: "",
  stderr: "error: vmboot-s: UNAVAILABLE: cannot reach the agent\n",
  json: {
    error: {
      message:
        "vmboot-s: UNAVAILABLE: cannot reach the agent at 10.231.3.2:50051 within 10s: connect ECONNREFUSED",
      exitCode: 1,
      target: "vmboot-s",
      status: "UNAVAILABLE",
      agentCode: null,
    },
  },
};

describe("cliJson", () => {
  it("throws with the CLI's message on its error document, never returns it as an answer", () => {
    expect(() => cliJson<{ lastDeployment: unknown }>(unreachable)).toThrow(
      /the command failed \(exit 1\): vmboot-s: UNAVAILABLE: cannot reach the agent/,
    );
  });

  it("returns an answer, whatever the exit code (a deploy that rolled back exits 2)", () => {
    const status = { currentSystem: "/nix/store/x", lastDeployment: null };
    expect(cliJson({ code: 0, stdout: "", stderr: "", json: status })).toBe(status);
    const deploy = { outcome: "rolled-back", reason: "not confirmed", error: null };
    expect(cliJson({ code: 2, stdout: "", stderr: "", json: deploy })).toBe(deploy);
    // A reboot deploy that lost its stream and followed the deployment to its end: exit 0.
    const followed = {
      outcome: "succeeded",
      generation: 3,
      error: { status: "UNAVAILABLE", details: "Connection dropped" },
    };
    expect(cliJson({ code: 0, stdout: "", stderr: "", json: followed })).toBe(followed);
    const generations = [{ generation: 1 }];
    expect(cliJson({ code: 0, stdout: "", stderr: "", json: generations })).toBe(generations);
  });

  it("throws on a run with no JSON, with its stderr", () => {
    expect(() => cliJson({ code: 1, stdout: "", stderr: "error: boom", json: undefined })).toThrow(
      /no JSON on stdout \(exit 1\): error: boom/,
    );
  });
});

import { NixFormatError } from "@ros-rollback/nix-core";
import { describe, expect, it } from "vitest";
import { captureIo } from "../testing/capture-io.js";
import { asUserError, ExitCode, UserError } from "./errors.js";
import { renderError } from "./render.js";

describe("asUserError", () => {
  it("keeps a UserError as it is", () => {
    const e = new UserError("no such target", { exitCode: ExitCode.Uncertain });
    expect(asUserError(e)).toBe(e);
  });

  it("makes malformed Nix data a user error with nix-core's message, keeping the cause", () => {
    const e = new NixFormatError("STORE_PATH", 'invalid store path "/etc": not in /nix/store');
    const user = asUserError(e);
    expect(user).toBeInstanceOf(UserError);
    expect(user?.message).toBe(e.message);
    expect(user?.exitCode).toBe(ExitCode.Unchanged);
    expect(user?.cause).toBe(e);
  });

  it("leaves anything else a bug", () => {
    expect(asUserError(new TypeError("x is undefined"))).toBeUndefined();
    expect(asUserError("a string")).toBeUndefined();
  });
});

describe("renderError", () => {
  it("prints a NixFormatError as one error line with exit 1, and the same in the JSON document", () => {
    const c = captureIo({ cwd: "/" });
    const e = new NixFormatError(
      "KEY",
      "secret key file /k: malformed Nix secret key (expected name:base64)",
    );
    expect(renderError(c.io, true, e)).toBe(ExitCode.Unchanged);
    expect(c.stderr()).toBe(`error: ${e.message}\n`);
    expect(JSON.parse(c.stdout())).toEqual({ error: { message: e.message, exitCode: ExitCode.Unchanged } });
  });

  it("prints a bug with its trace and exit 70", () => {
    const c = captureIo({ cwd: "/" });
    expect(renderError(c.io, false, new TypeError("boom"))).toBe(ExitCode.Bug);
    expect(c.stderr()).toContain("internal error");
    expect(c.stderr()).toContain("TypeError: boom");
  });
});

import { expect, it } from "vitest";
import { compileConfig } from "../config/load.js";
import { BOOT_COUNTING_OFF, checkReboot } from "./config.js";

const base = {
  listen: "0.0.0.0:1",
  tls: { caFile: "/ca", certFile: "/c", keyFile: "/k" },
  trustedPublicKeys: ["lab-1:aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28="],
};

it("boot: counting off and /boot by default; the module's rendering compiles; typos and relative paths are refused", () => {
  expect(compileConfig(base).boot).toEqual({ counting: false, esp: "/boot", tries: 3 });
  expect(compileConfig({ ...base, boot: { counting: true, esp: "/efi", tries: 5 } }).boot).toEqual({
    counting: true,
    esp: "/efi",
    tries: 5,
  });
  expect(() => compileConfig({ ...base, boot: { tries: 0 } })).toThrow(/tries/);
  expect(() => compileConfig({ ...base, boot: { tries: 1.5 } })).toThrow(/tries/);
  expect(() => compileConfig({ ...base, boot: { couting: true } })).toThrow(/couting/);
  expect(() => compileConfig({ ...base, boot: { esp: "boot" } })).toThrow(/esp/);
});

it("checkReboot: boot and switch on a counting robot; test and dry-activate never (INVALID_ARGUMENT)", () => {
  const counting = { counting: true, esp: "/boot", tries: 3 };
  expect(() => checkReboot("switch", true, counting)).not.toThrow();
  expect(() => checkReboot("boot", true, counting)).not.toThrow();
  expect(() => checkReboot("test", true, counting)).toThrow(
    expect.objectContaining({ code: "INVALID_ARGUMENT" }),
  );
  expect(() => checkReboot("switch", true, BOOT_COUNTING_OFF)).toThrow(
    expect.objectContaining({ code: "FAILED_PRECONDITION" }),
  );
  expect(() => checkReboot("test", false, BOOT_COUNTING_OFF)).not.toThrow();
});

import { describe, expect, it } from "vitest";
import { parseNarInfo } from "./narinfo.js";

const P = "/nix/store/6hvy7hw44cxcvbw5r3ln8xjzgj5lgmrb-b";
const good = [
  `StorePath: ${P}`,
  "URL: nar/1abc.nar.xz",
  "Compression: xz",
  "FileSize: 120",
  "NarHash: sha256:1w98wmwkaj9w7q2bb2pldn5jbm0dg8na9accj0pi74xpy3qn7d97",
  "NarSize: 400",
  "References: 6hvy7hw44cxcvbw5r3ln8xjzgj5lgmrb-b mwq47shl5x56hf8wz24fkh24l9ckb0bp-a",
  "Sig: k1:sig1",
  "Sig: k2:sig2",
  "",
].join("\n");

describe("parseNarInfo", () => {
  it("reads the fields, references as full paths, every Sig", () => {
    expect(parseNarInfo(good, "/nix/store")).toEqual({
      storePath: P,
      url: "nar/1abc.nar.xz",
      compression: "xz",
      fileSize: 120,
      narHash: "sha256:1w98wmwkaj9w7q2bb2pldn5jbm0dg8na9accj0pi74xpy3qn7d97",
      narSize: 400,
      references: [P, "/nix/store/mwq47shl5x56hf8wz24fkh24l9ckb0bp-a"],
      signatures: ["k1:sig1", "k2:sig2"],
      ca: "",
    });
  });

  it("returns a reason for what is not a narinfo", () => {
    const without = (key: string) => good.replace(new RegExp(`^${key}: .*\\n`, "m"), "");
    expect(parseNarInfo("<html>not found</html>", "/nix/store")).toMatch(/Key: value/);
    expect(parseNarInfo(without("StorePath"), "/nix/store")).toMatch(/StorePath/);
    expect(parseNarInfo(without("URL"), "/nix/store")).toMatch(/URL/);
    expect(parseNarInfo(without("NarHash"), "/nix/store")).toMatch(/NarHash/);
    expect(parseNarInfo(good.replace("NarSize: 400", "NarSize: -1"), "/nix/store")).toMatch(/NarSize/);
    expect(parseNarInfo(good.replace("References: ", "References: ../etc "), "/nix/store")).toMatch(
      /reference/,
    );
    expect(parseNarInfo(good, "/other/store")).toMatch(/StorePath/);
    expect(parseNarInfo(`${good}${"X: y\n".repeat(60_000)}`, "/nix/store")).toMatch(/too large/);
  });
});

import type { PathInfo } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { UserError } from "../core/errors.js";
import { parsePathInfoJson } from "./path-info-json.js";
import { sortReferencesFirst } from "./topo-sort.js";

const A = "/nix/store/wzflyq5q9kjg4p27yck2nnispnblxsnh-a.txt";
const B = "/nix/store/l0p896xj074lxqf5qifxgiwclh7m4cgv-b.txt";
const SIG =
  "test-key-1:5KBRNW9mh/UHY3IDGxuZjgM00zqoVUtjzqvPpWxMTLTRSkpaW7/tu+4L6ErBbcbT6yobxeb4waKDlZYtbdvvCg==";

// Verbatim `nix path-info -r --json` of Nix 2.8 (an array).
const NIX_2_8 = `[{"path":"${B}","narHash":"sha256-ejan6T2XCy65DXM7Q9iOl7wdM0msWt817F3aJ2Gf++8=","narSize":168,"references":["${A}"],"ca":"text:sha256:009mllhpkbax356yw4y5s08zxnv8q809s5q22pznah9w1z81bwy1","registrationTime":1795637567,"signatures":["${SIG}"]},{"path":"${A}","narHash":"sha256-CkMIecJm+LV/QJKg+TXPP6zUi7zN5XYNR0jKQFFx6Wk=","narSize":120,"references":[],"ca":"text:sha256:094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic","registrationTime":1795637567}]`;

// The same two paths as Nix 2.19+ prints them by default: an object keyed by path, deriver/ca null when absent.
const NIX_2_24 = JSON.stringify({
  [B]: {
    narHash: "sha256-ejan6T2XCy65DXM7Q9iOl7wdM0msWt817F3aJ2Gf++8=",
    narSize: 168,
    references: [A],
    ca: "text:sha256:009mllhpkbax356yw4y5s08zxnv8q809s5q22pznah9w1z81bwy1",
    deriver: null,
    registrationTime: 1795637567,
    ultimate: false,
    signatures: [SIG],
  },
  [A]: {
    narHash: "sha256-CkMIecJm+LV/QJKg+TXPP6zUi7zN5XYNR0jKQFFx6Wk=",
    narSize: 120,
    references: [],
    ca: "text:sha256:094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic",
    deriver: null,
    ultimate: false,
    signatures: [],
  },
});

// `--json-format 2` of the newest Nix: base names, structured content addresses and signatures.
const NIX_V2 = JSON.stringify({
  version: 2,
  storeDir: "/nix/store",
  info: {
    [B.slice(11)]: {
      narHash: "sha256-ejan6T2XCy65DXM7Q9iOl7wdM0msWt817F3aJ2Gf++8=",
      narSize: 168,
      references: [A.slice(11)],
      ca: { method: "text", hash: "sha256-wfMV0A88QWX/FQIXnQDCaNv+EdDFE+5NGV2teSGlNQE=" },
      deriver: null,
      signatures: [{ keyName: "test-key-1", sig: SIG.slice("test-key-1:".length) }],
    },
    [A.slice(11)]: {
      narHash: "sha256-CkMIecJm+LV/QJKg+TXPP6zUi7zN5XYNR0jKQFFx6Wk=",
      narSize: 120,
      references: [],
      ca: null,
      signatures: [],
    },
  },
});

const expected: PathInfo[] = [
  {
    storePath: A,
    narHash: "sha256:0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa",
    narSize: 120,
    references: [],
    deriver: "",
    signatures: [],
    ca: "text:sha256:094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic",
  },
  {
    storePath: B,
    narHash: "sha256:1vzvkxhjgnjxxhsxynmc94rivg4pivc46fvk1nwjw2wp7plsfdks",
    narSize: 168,
    references: [A],
    deriver: "",
    signatures: [SIG],
    ca: "text:sha256:009mllhpkbax356yw4y5s08zxnv8q809s5q22pznah9w1z81bwy1",
  },
];

describe("parsePathInfoJson", () => {
  it("reads Nix 2.8's array and Nix 2.19+'s object alike", () => {
    expect(sortReferencesFirst(parsePathInfoJson(NIX_2_8))).toEqual(expected);
    const newer = sortReferencesFirst(parsePathInfoJson(NIX_2_24));
    expect(newer).toEqual(expected);
  });

  it("reads the versioned format (base names, structured ca and signatures)", () => {
    const v2 = sortReferencesFirst(parsePathInfoJson(NIX_V2));
    expect(v2).toEqual(expected.map((i) => (i.storePath === A ? { ...i, ca: "" } : i)));
  });

  it("refuses invalid paths, bad JSON and missing hashes with a UserError", () => {
    expect(() => parsePathInfoJson(JSON.stringify({ [A]: null }))).toThrow(/not valid/);
    expect(() => parsePathInfoJson("{oops")).toThrow(UserError);
    expect(() => parsePathInfoJson(JSON.stringify([{ path: A, narSize: 1 }]))).toThrow(/narHash/);
    expect(() => parsePathInfoJson(JSON.stringify([{ path: A, narHash: "md5-AAAA", narSize: 1 }]))).toThrow(
      /narHash/,
    );
  });
});

describe("sortReferencesFirst", () => {
  const info = (name: string, refs: string[]): PathInfo => ({
    storePath: `/nix/store/${name}`,
    narHash: "",
    narSize: 1,
    references: refs.map((r) => `/nix/store/${r}`),
    deriver: "",
    signatures: [],
    ca: "",
  });

  it("puts every path after its references, deterministically, ignoring self-references", () => {
    const infos = [
      info("d", ["b", "c", "d"]),
      info("c", ["a"]),
      info("b", ["a"]),
      info("a", []),
      info("e", []),
    ];
    const order = sortReferencesFirst(infos).map((i) => i.storePath.slice(11));
    expect(order).toEqual(["a", "b", "c", "d", "e"]);
    expect(sortReferencesFirst([...infos].reverse()).map((i) => i.storePath.slice(11))).toEqual(order);
  });

  it("refuses a cycle", () => {
    expect(() => sortReferencesFirst([info("a", ["b"]), info("b", ["a"])])).toThrow(/cycle/);
  });
});

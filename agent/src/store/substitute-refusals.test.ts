import { appendFile, cp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { status as grpc } from "@grpc/grpc-js";
import { parseTrustedKeys } from "@ros-rollback/nix-core";
import { childProcesses, diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asAgentError } from "../errors.js";
import { agentStatus } from "../server/status.js";
import { type RecordingServer, recordingServer } from "../testing/recording-server.js";
import { NixCliStore } from "./cli-store.js";
import { substitute } from "./substitute.js";
import { narInfoLookup } from "./substituters.js";

// Issue 25 item 3: each way a cache can hand Nix a NAR it refuses, through the real nix-store,
// against a copy of a real cache the test damages; served as file:// and over HTTP.
let fx: NixFixture;
/** Store paths; `big` is the one whose NAR spans many chunks. */
let closure: string[];
let big: string;
let robots = 0;
let http: RecordingServer;
const signal = () => AbortSignal.timeout(60_000);
const COMPRESSIONS = ["xz", "zstd", "bzip2", "none"] as const;
type Compression = (typeof COMPRESSIONS)[number];

beforeAll(async () => {
  fx = await NixFixture.create();
  const top = await fx.build(diamondExpr("refusals"));
  await fx.sign(top);
  // Agent tests do not import the controller: the closure as Nix lists it.
  closure = (await fx.nixStore(["--query", "--requisites", top])).trim().split("\n");
  big = closure.find((p) => p.includes("-big-")) ?? "";
  for (const c of COMPRESSIONS)
    await fx.nix(["copy", "--to", `file://${fx.root}/cache-${c}?compression=${c}`, top]);
  // An HTTP cache over the test's directories: /<dir>/<file>.
  http = await recordingServer((req, res) => {
    readFile(join(fx.root, decodeURIComponent(req.url ?? "/"))).then(
      (body) => res.end(body),
      () => res.writeHead(404).end(),
    );
  });
}, 120_000);

afterAll(async () => {
  await http?.close();
  await fx?.cleanup();
});

/** A copy of the `c` cache, with `big`'s narinfo and NAR file paths, to damage. */
async function copyOf(c: Compression, name: string) {
  const dir = join(fx.root, name);
  await rm(dir, { recursive: true, force: true });
  await cp(join(fx.root, `cache-${c}`), dir, { recursive: true });
  const narinfo = join(dir, `${big.slice(11, 43)}.narinfo`);
  const nar = join(dir, /^URL: (.*)$/m.exec(await readFile(narinfo, "utf8"))?.[1] ?? "");
  return { dir, narinfo, nar };
}

type Damaged = Awaited<ReturnType<typeof copyOf>>;
const flip = async (file: string) => {
  const b = await readFile(file);
  const i = Math.floor(b.length / 2);
  b[i] = (b[i] ?? 0) ^ 0x20;
  await writeFile(file, b);
};
const halve = async (file: string) => truncate(file, Math.floor((await readFile(file)).length / 2));
/** FileSize is not signed: without it only Nix can tell that a NAR ends early. */
const dropFileSize = async (d: Damaged) =>
  writeFile(d.narinfo, (await readFile(d.narinfo, "utf8")).replace(/^FileSize: .*\n/m, ""));

const cases: readonly {
  readonly name: string;
  readonly c: Compression;
  readonly damage: (d: Damaged) => Promise<unknown>;
  readonly code: string;
  readonly says: string;
}[] = [
  {
    name: "xz, a byte flipped",
    c: "xz",
    damage: (d) => flip(d.nar),
    code: "CACHE_BAD_NAR",
    says: "compressed data is corrupt",
  },
  {
    name: "zstd, a byte flipped",
    c: "zstd",
    damage: (d) => flip(d.nar),
    code: "CACHE_BAD_NAR",
    says: "does not match the signed NAR hash",
  },
  {
    name: "uncompressed, a byte flipped",
    c: "none",
    damage: (d) => flip(d.nar),
    code: "CACHE_BAD_NAR",
    says: "does not match the signed NAR hash",
  },
  {
    name: "uncompressed, not a NAR (its magic damaged)",
    c: "none",
    damage: async (d) => {
      const b = await readFile(d.nar);
      b[8] = 0x58; // "nix-archive-1" begins after its u64 length
      await writeFile(d.nar, b);
    },
    code: "CACHE_BAD_NAR",
    says: "it is not a valid NAR",
  },
  {
    name: "bzip2, a byte flipped",
    c: "bzip2",
    damage: (d) => flip(d.nar),
    code: "CACHE_BAD_NAR",
    says: "compressed data is corrupt",
  },
  {
    name: "xz, truncated (FileSize says so)",
    c: "xz",
    damage: (d) => halve(d.nar),
    code: "CACHE_BAD_NAR",
    says: "cut short",
  },
  {
    name: "xz, truncated, no FileSize",
    c: "xz",
    damage: async (d) => [await halve(d.nar), await dropFileSize(d)],
    code: "CACHE_BAD_NAR",
    says: "compressed data is corrupt or cut short",
  },
  {
    name: "zstd, truncated, no FileSize",
    c: "zstd",
    damage: async (d) => [await halve(d.nar), await dropFileSize(d)],
    code: "CACHE_BAD_NAR",
    says: "compressed data is corrupt or cut short",
  },
  {
    name: "bzip2, truncated, no FileSize",
    c: "bzip2",
    damage: async (d) => [await halve(d.nar), await dropFileSize(d)],
    code: "CACHE_BAD_NAR",
    says: "compressed data is corrupt or cut short",
  },
  {
    name: "uncompressed, truncated, no FileSize",
    c: "none",
    damage: async (d) => [await halve(d.nar), await dropFileSize(d)],
    code: "CACHE_BAD_NAR",
    says: "the NAR ends early",
  },
  {
    name: "longer than its FileSize",
    c: "xz",
    damage: (d) => appendFile(d.nar, "more"),
    code: "CACHE_BAD_NAR",
    says: "longer than the narinfo's FileSize",
  },
  {
    name: "NAR missing behind its narinfo",
    c: "xz",
    damage: (d) => rm(d.nar),
    code: "CACHE_BAD_NAR",
    says: "has the narinfo but not the NAR",
  },
  {
    name: "signature damaged",
    c: "xz",
    damage: async (d) =>
      writeFile(d.narinfo, (await readFile(d.narinfo, "utf8")).replace(/^(Sig: [^:]+:)./m, "$1A")),
    code: "UNTRUSTED",
    says: "",
  },
];

const log = pino({ level: "silent" });

describe.each(["file", "http"] as const)("a damaged cache over %s", (scheme) => {
  it.each(cases.map((c) => [c.name, c] as const))(
    "%s: named as the cache's fault, not INTERNAL",
    async (_, c) => {
      const name = `damaged-${++robots}`;
      const d = await copyOf(c.c, name);
      await c.damage(d);
      const cacheUrl = scheme === "file" ? `file://${d.dir}` : `${http.url}/${name}`;
      const robot = fx.store(`robot-${robots}`);
      const error = await substitute(
        closure,
        {
          store: new NixCliStore({ storeUri: robot, env: fx.env }),
          caches: [cacheUrl],
          trustedKeys: parseTrustedKeys([fx.publicKey]),
          trustedKeyTexts: [fx.publicKey],
          lookup: narInfoLookup({ storeDir: "/nix/store", timeoutMs: 5_000 }),
          storeUri: robot,
          env: fx.env,
        },
        signal(),
        () => undefined,
      ).then(
        () => undefined,
        (e: unknown) => asAgentError(e),
      );
      expect(error?.code).toBe(c.code);
      expect(error?.message).toContain(c.says);
      expect(error?.message).toContain(`"${cacheUrl}"`);
      expect(error?.message).toContain(`"${big}"`);
      const status = agentStatus(error, log, "Substitute");
      expect(status.code).toBe(c.code === "UNTRUSTED" ? grpc.PERMISSION_DENIED : grpc.DATA_LOSS);
      expect(await fx.validAmong([big], robot)).toEqual([]);
      expect(await childProcesses()).toEqual([]);
    },
    60_000,
  );
});

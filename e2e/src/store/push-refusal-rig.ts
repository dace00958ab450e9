// The push-refusal tests' rig: a Nix fixture with a signed and an unsigned diamond closure, a push
// into a fresh robot store that must be refused (how, and what is valid after), and the
// controller's stream edited or tampered with on its way.
import { readFile } from "node:fs/promises";
import type { PushObserver, RefusalReason } from "@ros-rollback/agent/testing";
import { NixCliStore, receivePush } from "@ros-rollback/agent/testing";
import { computeClosure, pushRequests } from "@ros-rollback/controller/testing";
import { type NixSecretKey, parseSecretKey, parseTrustedKeys, signPath } from "@ros-rollback/nix-core";
import { childProcesses, diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import { Compression, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import { afterAll, beforeAll, expect } from "vitest";

export const NONE = Compression.COMPRESSION_NONE;

export interface Outcome {
  error: { code?: string; message: string };
  refused: [string, RefusalReason][];
  valid: string[];
}

/** Builds the fixture before the file's tests (cleans up after); `signed`/`unsigned` are filled then. */
export function useRefusalRig() {
  let fx: NixFixture;
  const signed: PathInfo[] = [];
  const unsigned: PathInfo[] = [];
  let key: NixSecretKey;
  let robots = 0;

  const signal = () => AbortSignal.timeout(60_000);
  const nix = () => ({ storeUri: fx.sourceStore, env: fx.env });

  beforeAll(async () => {
    fx = await NixFixture.create();
    const top = await fx.build(diamondExpr("signed"));
    await fx.sign(top);
    signed.push(...(await computeClosure(top, signal(), nix())));
    unsigned.push(...(await computeClosure(await fx.build(diamondExpr("unsigned")), signal(), nix())));
    key = parseSecretKey(await readFile(fx.secretKeyFile, "utf8"));
  }, 60_000);

  afterAll(async () => {
    await fx.cleanup();
  });

  /** Pushes `requests` into a fresh robot store; the push must fail. Reports how, and what is valid afterwards. */
  async function refusedPush(
    requests: AsyncIterable<PushPathsRequest>,
    zstdBin?: string,
    abort = signal(),
  ): Promise<Outcome> {
    const storeUri = fx.store(`robot-${++robots}`);
    const refused: [string, RefusalReason][] = [];
    const observer: PushObserver = { pathRefused: (p, why) => refused.push([p, why]) };
    const store = new NixCliStore({ storeUri, env: fx.env });
    const error = await receivePush(
      requests,
      { store, trustedKeys: parseTrustedKeys([fx.publicKey]), observer, decompress: { zstdBin } },
      abort,
    ).then(
      () => expect.unreachable("the push should have been refused"),
      (e: unknown) => e as Outcome["error"],
    );
    const all = [...signed, ...unsigned].map((i) => i.storePath);
    await expectNoChildren();
    return { error, refused, valid: await fx.validAmong(all, storeUri) };
  }

  /** The agent's processes are gone when receivePush settles; the controller generator's die just after. */
  async function expectNoChildren(): Promise<void> {
    for (let i = 0; i < 50 && (await childProcesses()).length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await childProcesses()).toEqual([]);
  }

  /** The controller's stream with `edit` applied to each message. */
  async function* edited(
    infos: PathInfo[],
    edit: (m: PushPathsRequest, path: string) => PushPathsRequest | undefined,
    compression = NONE,
  ): AsyncGenerator<PushPathsRequest> {
    let path = "";
    for await (const m of pushRequests(infos, { compression, nix: nix() }, signal())) {
      if (m.item?.$case === "path") path = m.item.value.storePath;
      const out = edit(m, path);
      if (out !== undefined) yield out;
    }
  }

  const resign = (info: PathInfo): PathInfo => ({ ...info, signatures: [signPath(info, key)] });
  const bigIndex = (): number => signed.findIndex((i) => i.narSize > 1024 * 1024);
  /** The controller's stream with one byte of `target`'s first or last chunk flipped (`at` < 0: from its end). */
  async function* tampered(
    infos: PathInfo[],
    target: string,
    where: "first" | "last",
    at: number,
  ): AsyncGenerator<PushPathsRequest> {
    const flip = (m: PushPathsRequest): PushPathsRequest => {
      if (m.item?.$case !== "chunk") throw new Error("not a chunk");
      const data = Buffer.from(m.item.value.data);
      const o = at < 0 ? data.length + at : at;
      data[o] = (data[o] ?? 0) ^ 0x20;
      return { item: { $case: "chunk", value: { data } } };
    };
    let path = "";
    let held: PushPathsRequest | undefined; // target's latest chunk, until we know whether it is the last
    let done = false;
    for await (const m of pushRequests(infos, { compression: NONE, nix: nix() }, signal())) {
      if (m.item?.$case === "path") path = m.item.value.storePath;
      const ours = m.item?.$case === "chunk" && path === target && !done;
      if (held !== undefined && !ours) {
        yield flip(held);
        held = undefined;
        done = true;
      }
      if (!ours) yield m;
      else if (where === "first") {
        yield flip(m);
        done = true;
      } else {
        if (held !== undefined) yield held;
        held = m;
      }
    }
    if (held !== undefined) yield flip(held);
  }

  return { signed, unsigned, signal, nix, refusedPush, edited, resign, bigIndex, tampered };
}

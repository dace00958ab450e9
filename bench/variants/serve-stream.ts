// What the agent writes to its `nix-store --serve --write` (agent/src/store/cli-import.ts), as one
// byte stream: the handshake, then per path cmdAddToStoreNar, its info and its NAR, pipelined
// (nix's acknowledgements are not waited for). Fed from a file, it measures nix's side alone.
import {
  canonicalNarHash,
  SERVE_CLIENT_VERSION,
  SERVE_MAGIC_1,
  ServeCommand,
  str,
  strs,
  u64,
} from "@ros-rollback/nix-core";
import type { PathInfo } from "@ros-rollback/proto";
import type { NarPiece } from "../../controller/src/push/nar-source.js";

/** cmdAddToStoreNar and the path's info, as CliImport.beginPath sends them. */
export function addToStoreNarHeader(info: PathInfo, registrationTime: number): Buffer {
  return Buffer.concat([
    u64(ServeCommand.AddToStoreNar),
    str(info.storePath),
    str(info.deriver),
    str(canonicalNarHash(info.narHash, info.storePath)),
    strs([...new Set(info.references)]),
    u64(registrationTime),
    u64(info.narSize),
    u64(0), // ultimate: not built here
    strs(info.signatures),
    str(info.ca),
  ]);
}

/** The stream importing `infos` (references first) whose NARs `nars` yields in the same order. */
export async function* serveImportStream(
  infos: readonly PathInfo[],
  nars: AsyncIterable<NarPiece>,
  registrationTime = Math.floor(Date.now() / 1000),
): AsyncGenerator<Buffer> {
  yield Buffer.concat([u64(SERVE_MAGIC_1), u64(SERVE_CLIENT_VERSION)]);
  let next = 0;
  for await (const piece of nars) {
    if (piece.index === next) {
      const info = infos[next];
      if (info === undefined) throw new Error(`a NAR piece for path ${piece.index} of ${infos.length}`);
      yield addToStoreNarHeader(info, registrationTime);
      next++;
    } else if (piece.index !== next - 1) {
      throw new Error(`NAR pieces out of order: path ${piece.index} after ${next - 1}`);
    }
    yield piece.data;
  }
  if (next !== infos.length) throw new Error(`NARs of ${next} paths of ${infos.length}`);
}

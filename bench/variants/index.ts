// Every way of getting a closure into the robot that the bench compares; see bench/README.md.
import type { PathInfo } from "@ros-rollback/proto";
import type { Target } from "../links/index.js";
import { importFloor, serveFloor } from "./floor.js";
import type { Variant } from "./names.js";
import { pipe } from "./pipe.js";
import { push } from "./push.js";
import { nixCopy, sshPipe } from "./ssh.js";

export { appliesTo, FLOORS, PUSHES, VARIANTS, type Variant } from "./names.js";

/** What one variant moved, signed for the robot (the pushes need the signatures). */
export interface Transfer {
  /** The closure, references first; the root last. */
  readonly infos: readonly PathInfo[];
}

export interface Measured {
  seconds: number;
  /** The compression push-auto chose. */
  chose?: string;
  /** push-auto: why, each choice (for the log). */
  why?: string[];
  /** Pushes: NarChunk bytes sent (compressed, if the push is). */
  wireBytes?: number;
  /** Floors: user + system seconds of the import in the robot. */
  cpuSeconds?: number;
}

export function measure(variant: Variant, target: Target, transfer: Transfer): Promise<Measured> {
  const paths = transfer.infos.map((i) => i.storePath);
  const seconds = (p: Promise<number>) => p.then((s) => ({ seconds: s }));
  switch (variant) {
    case "pipe":
      return seconds(pipe(target.robotPid, paths));
    case "import-floor":
      return importFloor(target.robot, paths);
    case "serve-floor":
      return serveFloor(target.robot, transfer.infos);
    case "ssh-pipe":
      return seconds(sshPipe(target, paths, false));
    case "ssh-zstd-pipe":
      return seconds(sshPipe(target, paths, true));
    case "nix-copy":
      return seconds(nixCopy(target, paths));
    case "push-none":
      return push(target, transfer.infos, "none");
    case "push-zstd":
      return push(target, transfer.infos, "zstd");
    case "push-auto":
      return push(target, transfer.infos, "auto");
    case "push-grpc-none":
      return push(target, transfer.infos, "none", "grpc");
  }
}

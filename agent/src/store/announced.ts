import type { PathInfo } from "@ros-rollback/proto";
import { AgentError } from "../errors.js";
import { pathInfoCost } from "./path-checks.js";

/**
 * PathInfos received whose NAR bytes have not started yet. With compression
 * a sender legitimately runs ahead (a compressor holds back a block of small
 * paths), but never by more than a compressed block's worth; the bounds
 * refuse a sender that announces without sending instead of buffering it.
 */
export class Announced {
  private readonly items: PathInfo[] = [];
  private head = 0;
  private cost = 0;

  constructor(
    private readonly maxCount = 100_000,
    private readonly maxCost = 32 * 1024 * 1024,
  ) {}

  push(info: PathInfo): void {
    const c = pathInfoCost(info);
    if (this.items.length - this.head >= this.maxCount || this.cost + c > this.maxCost) {
      throw new AgentError("INVALID_ARGUMENT", "too many paths announced ahead of their NAR bytes");
    }
    this.items.push(info);
    this.cost += c;
  }

  shift(): PathInfo | undefined {
    const info = this.items[this.head];
    if (info === undefined) return undefined;
    this.head++;
    this.cost -= pathInfoCost(info);
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return info;
  }

  /** The waiting PathInfos, oldest first (for batching validity queries). */
  peek(max: number): PathInfo[] {
    return this.items.slice(this.head, this.head + max);
  }
}

import type { LinkName } from "../links/names.js";

export const VARIANTS = [
  "pipe",
  "ssh-pipe",
  "ssh-zstd-pipe",
  "nix-copy",
  "push-none",
  "push-zstd",
  "push-auto",
  "push-grpc-none",
] as const;
export type Variant = (typeof VARIANTS)[number];
export const PUSHES = [
  "push-none",
  "push-zstd",
  "push-auto",
  "push-grpc-none",
] as const satisfies readonly Variant[];

/** `pipe` runs through nsenter, not the network: it is measured on the veth only. */
export function appliesTo(variant: Variant, link: LinkName): boolean {
  return variant !== "pipe" || link === "veth";
}

import type { LinkName } from "../links/names.js";

export const VARIANTS = [
  "pipe",
  "import-floor",
  "serve-floor",
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

/** The robot's own Nix importing a stream staged inside it: the floor of a transfer importing so. */
export const FLOORS = ["import-floor", "serve-floor"] as const satisfies readonly Variant[];

/** `pipe` and the floors run through nsenter, not the network: they are measured on the veth only. */
export function appliesTo(variant: Variant, link: LinkName): boolean {
  return link === "veth" || (variant !== "pipe" && !(FLOORS as readonly Variant[]).includes(variant));
}

// One implementation of escaping, shared with the controller's printing.
export { hasUnprintable, printable } from "@ros-rollback/nix-core";

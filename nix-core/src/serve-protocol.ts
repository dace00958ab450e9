/** Nix's serve-protocol.hh; unchanged from Nix 2.3 to 2.3x. */
export const SERVE_MAGIC_1 = 0x390c9deb;
export const SERVE_MAGIC_2 = 0x5452eecb;
/** We speak 2.5: the first version with cmdAddToStoreNar; later minors only add build fields. */
export const SERVE_CLIENT_VERSION = 0x205;

export const ServeCommand = {
  QueryValidPaths: 1,
  DumpStorePath: 3,
  AddToStoreNar: 9,
} as const;

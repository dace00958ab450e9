# A stand-in for nixpkgs in ./flake-tests.nix, which has none: `import nixpkgs { system; overlays; }` gives a
# package set whose callPackage returns what it was called with and for which system, so the tests
# can see which file the flake builds for each platform, and with which npmDepsHash.
{
  system,
  overlays ? [ ],
}:
let
  base = {
    inherit system;
    nodejs_20 = "nodejs_20-${system}";
    callPackage = fn: args: { inherit fn args system; };
  };
  # Overlays see the final set, as in nixpkgs.
  final = builtins.foldl' (prev: overlay: prev // overlay final prev) base overlays;
in
final

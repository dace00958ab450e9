# The package.json and package-lock.json the build installs from: ./build-lock.nix's trimmed copies
# (no lint, test or bundler tools), the lock with the registry's tarball URLs added
# (./lock-with-resolved.mjs) — the input of the npm dependency cache (fetchNpmDeps). The registry is
# npm's built-in default, asked at build time; the repository names none. ./print-build-lock.sh
# prints the same package-lock.json without nixpkgs.
{
  runCommand,
  nodejs,
  packageJsonFile,
  lockFile,
}:
let
  built = (import ./build-lock.nix).fromFiles packageJsonFile lockFile;
in
runCommand "ros-rollback-package-lock"
  {
    nativeBuildInputs = [ nodejs ];
    lockJson = builtins.toJSON built.lock;
    packageJson = builtins.toJSON built.packageJson;
    passAsFile = [
      "lockJson"
      "packageJson"
    ];
  }
  ''
    export HOME=$TMPDIR
    registry=$(npm config get registry)
    mkdir $out
    node ${./lock-with-resolved.mjs} "$registry" < "$lockJsonPath" > $out/package-lock.json
    cp "$packageJsonPath" $out/package.json
  ''

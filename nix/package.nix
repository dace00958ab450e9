# The agent and the controller, built from the npm workspaces with nixpkgs' buildNpmPackage.
#
# The build installs from ./npm-lock.nix's package.json and package-lock.json: trimmed by
# ./build-lock.nix to what `npm ci` and `npm run build` need (the lint and test tools with every
# platform's binaries, and the esbuild binaries of platforms other than linux x64 and arm64, are
# left out: 97 tarballs, 21 MB instead of 512 MB), with the registry's tarball URLs added, since
# prefetch-npm-deps (fetchNpmDeps) caches only entries that have one and `npm ci --offline` would
# otherwise fail with ENOTCACHED. Both the dependency cache
# and the build use that copy. Its hash is recorded in ./npm-deps.json
# (`nix run .#update-npm-deps-hash`, or ./print-build-lock.sh and prefetch-npm-deps).
{
  lib,
  runCommand,
  buildNpmPackage,
  fetchNpmDeps,
  nodejs,
  makeWrapper,
  pkg-config,
  systemd,
  npmDepsHash,
}:
let
  root = ../.;
  fs = lib.fileset;
  lockFile = root + "/package-lock.json";
  packageJsonFile = root + "/package.json";
  packageJson = lib.importJSON packageJsonFile;

  # Only what `npm ci` and `tsc -b` read: the workspaces' manifests and sources, never build output.
  src = fs.toSource {
    inherit root;
    fileset = fs.difference (fs.intersection (fs.unions [
      (root + "/package.json")
      lockFile
      (root + "/tsconfig.base.json")
      (root + "/proto")
      (root + "/nix-core")
      (root + "/agent")
      (root + "/controller")
      (root + "/relay")
      # A workspace: npm ci needs its manifest, nothing else of it.
      (root + "/integration-tests/package.json")
    ]) (fs.fileFilter (f: !(lib.hasSuffix ".tsbuildinfo" f.name) && !(lib.hasSuffix ".test.ts" f.name)) root)) (fs.unions [
      (fs.maybeMissing (root + "/proto/dist"))
      (fs.maybeMissing (root + "/nix-core/dist"))
      (fs.maybeMissing (root + "/agent/dist"))
      (fs.maybeMissing (root + "/controller/dist"))
      (fs.maybeMissing (root + "/relay/dist"))
    ]);
  };

  npmLock = import ./npm-lock.nix {
    inherit
      runCommand
      nodejs
      packageJsonFile
      lockFile
      ;
  };

  npmDeps = fetchNpmDeps {
    name = "ros-rollback-npm-deps";
    src = npmLock;
    hash = npmDepsHash;
  };
in
buildNpmPackage {
  pname = "ros-rollback";
  inherit (packageJson) version;
  inherit src nodejs npmDeps;

  # npmConfigHook compares ./package-lock.json with $npmDeps/package-lock.json: use the same copy,
  # and its package.json (npm ci refuses a package.json whose devDependencies the lock lacks).
  # (postPatch runs before the hooks in postPatchHooks, where npmConfigHook sits.)
  postPatch = ''
    cp ${npmLock}/package-lock.json package-lock.json
    cp ${npmLock}/package.json package.json
  '';

  # systemd-journald's native addon (optional dependency) links libsystemd through pkg-config.
  nativeBuildInputs = [
    makeWrapper
    pkg-config
  ];
  buildInputs = [ systemd ];

  # Root script: `npm run build -w proto -w nix-core -w agent -w controller -w relay` (tsc -b in each; the
  # controller then bundles its CLI into controller/dist/bundle with esbuild, a static binary).
  npmBuildScript = "build";

  # npm's own install hook packs the root package, which is private and has no files: install the
  # built workspaces instead, with production dependencies only.
  installPhase = ''
    runHook preInstall
    npm prune --omit=dev --no-save --offline
    app=$out/lib/ros-rollback
    mkdir -p $app/proto $app/nix-core $app/agent $app/controller $app/relay $app/integration-tests $out/bin
    cp -r package.json node_modules $app/
    cp -r proto/package.json proto/dist proto/ros_rollback $app/proto/
    cp -r nix-core/package.json nix-core/dist $app/nix-core/
    cp -r agent/package.json agent/dist $app/agent/
    cp -r relay/package.json relay/dist $app/relay/
    # The CLI runs from its bundle alone (package.json: "type": "module").
    mkdir -p $app/controller/dist
    cp controller/package.json $app/controller/
    cp -r controller/dist/bundle $app/controller/dist/
    cp integration-tests/package.json $app/integration-tests/
    # Dangling after prune or of no use at run time.
    find $app/node_modules -xtype l -delete
    makeWrapper ${lib.getExe nodejs} $out/bin/ros-rollback-agent \
      --add-flags $app/agent/dist/main.js
    makeWrapper ${lib.getExe nodejs} $out/bin/ros-rollback-relay \
      --add-flags $app/relay/dist/main.js
    makeWrapper ${lib.getExe nodejs} $out/bin/ros-rollback \
      --add-flags $app/controller/dist/bundle/cli.js
    runHook postInstall
  '';

  passthru = { inherit npmLock npmDeps; };

  meta = {
    description = "Safe OTA updates for ROS robots on NixOS: agent (ros-rollback-agent) and controller (ros-rollback)";
    license = lib.licenses.mit;
    mainProgram = "ros-rollback";
    platforms = lib.platforms.linux;
  };
}

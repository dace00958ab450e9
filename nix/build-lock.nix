# The package.json and package-lock.json the Nix build installs from: the repository's, without the
# root devDependencies the build never runs (biome, vitest, tsx, ts-proto: every platform's binaries
# of the lint and test tools, most of the fixed-output dependency set), without every lock entry
# only they need, and without optional dependencies for platforms the package is never built on
# (the controller's bundler, esbuild, has one per platform). Plain Nix on JSON (no nixpkgs), so nix-module/tests/build-lock-tests.nix
# tests it and nix/print-build-lock.sh prints what the build gets.
#
#   (import ./build-lock.nix).fromFiles ../package.json ../package-lock.json  => { packageJson; lock; }
let
  inherit (builtins)
    attrNames
    elem
    filter
    fromJSON
    genericClosure
    hasAttr
    listToAttrs
    match
    readFile
    removeAttrs
    ;

  # What `npm run build` (tsc -b in proto, nix-core, agent, controller) needs beyond the workspaces' own
  # dependencies. proto/src/gen is committed, so ts-proto (the code generator) is not among them.
  buildDevDependencies = [
    "typescript"
    "@types/node"
  ];

  # The platforms the package builds on (flake.nix's systems), in npm's `os` and `cpu` terms: an
  # optional dependency for any other (esbuild's binaries for darwin, win32, s390x, …) is left out.
  buildPlatforms = {
    os = [ "linux" ];
    cpu = [
      "x64"
      "arm64"
    ];
  };

  # npm's rule for `os` and `cpu`: a listed value matches, or the list only negates ("!win32") others.
  fitsField =
    allowed: values:
    values == [ ]
    || builtins.any (v: elem v allowed) values
    || (
      builtins.all (v: match "!.*" v != null) values
      && !(builtins.any (a: elem "!${a}" values) allowed)
    );
  fitsBuild = e: fitsField buildPlatforms.os (e.os or [ ]) && fitsField buildPlatforms.cpu (e.cpu or [ ]);

  filterNames = keep: deps: removeAttrs deps (filter (n: !(elem n keep)) (attrNames deps));

  keepOnlyDev =
    keep: manifest:
    if manifest ? devDependencies then
      manifest // { devDependencies = filterNames keep manifest.devDependencies; }
    else
      manifest;

  # The folder whose node_modules a lock key's package looks in next, as Node's resolution does:
  # "node_modules/a/node_modules/@s/b" -> "node_modules/a"; "node_modules/a" and "agent" -> "".
  parentOf =
    key:
    let
      m = match "(.*)/node_modules/.*" key;
    in
    if m == null then "" else builtins.head m;

  # The lock key that NAME resolves to when required from the package at lock key FROM, or null.
  resolve =
    packages: from: name:
    let
      candidate = (if from == "" then "" else "${from}/") + "node_modules/${name}";
    in
    if hasAttr candidate packages then
      candidate
    else if from == "" then
      null
    else
      resolve packages (parentOf from) name;

  # Lock keys reachable from the root and the workspaces: dependencies (a missing one is an error),
  # optional and peer dependencies when the lock has them, devDependencies of the root and the
  # workspaces (npm ci installs those), and the targets of links (the workspaces).
  reachable =
    packages:
    let
      entry = key: packages.${key};
      depsOf =
        key:
        let
          e = entry key;
          names = field: attrNames (e.${field} or { });
          isRoot = isWorkspace key;
          required = map (
            n:
            let
              r = resolve packages key n;
            in
            if r == null then throw "build-lock: ${key} needs ${n}, which the lock does not have" else r
          ) (names "dependencies");
          present = ns: filter (r: r != null) (map (resolve packages key) ns);
          ifPresent =
            filter (r: fitsBuild (entry r)) (present (names "optionalDependencies"))
            ++ present (names "peerDependencies" ++ (if isRoot then names "devDependencies" else [ ]));
          linked = if (e.link or false) && hasAttr e.resolved packages then [ e.resolved ] else [ ];
        in
        required ++ ifPresent ++ linked;
      isWorkspace = k: k == "" || match ".*node_modules/.*" k == null;
      # The root, the workspaces, and their links in node_modules (npm ci makes those links).
      roots = filter (
        k: isWorkspace k || ((entry k).link or false && isWorkspace (entry k).resolved)
      ) (attrNames packages);
    in
    map (x: x.key) (genericClosure {
      startSet = map (key: { inherit key; }) roots;
      operator = x: map (key: { inherit key; }) (depsOf x.key);
    });

  trimLock =
    keep: lock:
    let
      packages = lock.packages // {
        "" = keepOnlyDev keep lock.packages."";
      };
    in
    if !(lock ? packages) || !(elem (lock.lockfileVersion or null) [ 2 3 ]) then
      throw "build-lock: not a package-lock.json with a packages map (lockfileVersion 2 or 3)"
    else
      removeAttrs lock [ "dependencies" ] # lockfileVersion 2's copy for npm 6; npm 7+ reads `packages`
      // {
        packages = listToAttrs (
          map (key: {
            name = key;
            value = packages.${key};
          }) (reachable packages)
        );
      };

  trim =
    {
      packageJson,
      lock,
      keep ? buildDevDependencies,
    }:
    {
      packageJson = keepOnlyDev keep packageJson;
      lock = trimLock keep lock;
    };

  fromFiles =
    packageJsonFile: lockFile:
    trim {
      packageJson = fromJSON (readFile packageJsonFile);
      lock = fromJSON (readFile lockFile);
    };
in
{
  inherit
    buildDevDependencies
    buildPlatforms
    fitsBuild
    parentOf
    resolve
    trim
    fromFiles
    ;
  # The sha256 that nix/npm-deps.json records as lockDigest: that of the trimmed lock (before the
  # registry's URLs are added), so the recorded npmDepsHash goes stale exactly when what the build
  # fetches changes, whether by package-lock.json or by this file.
  digest = built: builtins.hashString "sha256" (builtins.toJSON built.lock);
}

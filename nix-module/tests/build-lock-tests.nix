# Tests of nix/build-lock.nix (the lock the Nix build installs from) and nix/npm-deps.json: a list
# of { name, ok, got, expected }, part of ./pure.nix.
let
  npmDeps = builtins.fromJSON (builtins.readFile ../../nix/npm-deps.json);
  buildLock = import ../../nix/build-lock.nix;
  built = buildLock.fromFiles ../../package.json ../../package-lock.json;
  builtKeys = builtins.attrNames built.lock.packages;

  # A lock in which the root's dev tool `lint` brings a hoisted b@1 and per-platform binaries, while
  # the workspace's dependency `a` has its own nested b@2.
  toyLock = extra: {
    lockfileVersion = 3;
    name = "r";
    requires = true;
    packages = {
      "" = {
        name = "r";
        workspaces = [ "app" ];
        devDependencies = {
          tsc = "^1";
          lint = "^1";
        };
      };
      app = {
        name = "@r/app";
        dependencies.a = "^1";
        optionalDependencies = {
          native = "^1";
          not-for-this-platform = "^1";
          native-linux-arm64 = "^1";
          native-linux-s390x = "^1";
          native-darwin-arm64 = "^1";
        };
      };
      "node_modules/@r/app" = {
        resolved = "app";
        link = true;
      };
      "node_modules/a" = {
        version = "1.0.0";
        dependencies = {
          b = "^2";
          "@s/c" = "^1";
        } // extra;
      };
      "node_modules/a/node_modules/b" = {
        version = "2.0.0";
        dependencies."@s/c" = "^1";
      };
      "node_modules/@s/c" = {
        version = "1.0.0";
        peerDependencies.a = "^1";
      };
      "node_modules/native" = {
        version = "1.0.0";
        optional = true;
      };
      "node_modules/native-linux-arm64" = {
        version = "1.0.0";
        optional = true;
        os = [ "linux" ];
        cpu = [ "arm64" ];
      };
      "node_modules/native-linux-s390x" = {
        version = "1.0.0";
        optional = true;
        os = [ "linux" ];
        cpu = [ "s390x" ];
      };
      "node_modules/native-darwin-arm64" = {
        version = "1.0.0";
        optional = true;
        os = [ "darwin" ];
        cpu = [ "arm64" ];
      };
      "node_modules/tsc" = {
        version = "1.0.0";
        dev = true;
      };
      "node_modules/lint" = {
        version = "1.0.0";
        dev = true;
        dependencies = {
          b = "^1";
          lint-linux-x64 = "1.0.0";
        };
        optionalDependencies.lint-darwin-arm64 = "1.0.0";
      };
      "node_modules/b" = {
        version = "1.0.0";
        dev = true;
      };
      "node_modules/lint-linux-x64" = {
        version = "1.0.0";
        dev = true;
      };
      "node_modules/lint-darwin-arm64" = {
        version = "1.0.0";
        dev = true;
        optional = true;
      };
    };
  };
  toyTrim =
    extra:
    buildLock.trim {
      packageJson = {
        name = "r";
        devDependencies = {
          tsc = "^1";
          lint = "^1";
        };
      };
      lock = toyLock extra;
      keep = [ "tsc" ];
    };

  evaluated =
    v:
    let
      r = builtins.tryEval (builtins.deepSeq v v);
    in
    if r.success then r.value else "evaluation failed";
  test = name: got: expected: {
    inherit name got expected;
    ok = got == expected;
  };
in
[
  (test "nix/npm-deps.json records the digest of the build's lock (else: nix run .#update-npm-deps-hash)"
    npmDeps.lockDigest
    (buildLock.digest built)
  )

  (test "build lock: parentOf walks up one package, scoped or not"
    (map buildLock.parentOf [
      "node_modules/a/node_modules/@s/b"
      "node_modules/@s/b/node_modules/c"
      "node_modules/a"
      "agent"
    ])
    [
      "node_modules/a"
      "node_modules/@s/b"
      ""
      ""
    ]
  )

  (test "build lock: an optional dependency fits the build when its os and cpu allow linux on x64 or arm64"
    (map buildLock.fitsBuild [
      { }
      {
        os = [ "linux" ];
        cpu = [ "x64" ];
      }
      { os = [ "!win32" ]; }
      { os = [ "!linux" ]; }
      { os = [ "darwin" ]; }
      {
        os = [ "linux" ];
        cpu = [ "s390x" ];
      }
    ])
    [
      true
      true
      true
      false
      false
      false
    ]
  )

  (test "build lock: keeps the workspaces, their links and what they need (nested first), drops the dev tool's closure and other platforms' optional binaries"
    (
      let
        t = toyTrim { };
      in
      {
        keys = builtins.attrNames t.lock.packages;
        lockDev = t.lock.packages."".devDependencies;
        packageJsonDev = t.packageJson.devDependencies;
      }
    )
    {
      keys = [
        ""
        "app"
        "node_modules/@r/app"
        "node_modules/@s/c"
        "node_modules/a"
        "node_modules/a/node_modules/b"
        "node_modules/native"
        "node_modules/native-linux-arm64"
        "node_modules/tsc"
      ];
      lockDev.tsc = "^1";
      packageJsonDev.tsc = "^1";
    }
  )

  (test "build lock: a dependency the lock lacks is an evaluation error"
    (evaluated (toyTrim { nope = "^1"; }).lock)
    "evaluation failed"
  )

  (test "build lock (ours): no lint, test or code-generator package is left"
    (builtins.filter (
      k:
      builtins.match ".*node_modules/(@biomejs/.*|vitest|@vitest/.*|vite|tsx|ts-proto|rollup|@rollup/.*)" k
      != null
    ) builtKeys)
    [ ]
  )

  (test "build lock (ours): the controller's bundler is kept with its linux x64 and arm64 binaries only"
    (builtins.filter (k: builtins.match ".*node_modules/(esbuild|@esbuild/.*)" k != null) builtKeys)
    [
      "node_modules/@esbuild/linux-arm64"
      "node_modules/@esbuild/linux-x64"
      "node_modules/esbuild"
    ]
  )

  (test "build lock (ours): the compiler, the runtime dependencies, the workspaces and their links are kept"
    (builtins.filter (k: !(builtins.elem k builtKeys)) [
      ""
      "proto"
      "nix-core"
      "agent"
      "controller"
      "integration-tests"
      "node_modules/@ros-rollback/proto"
      "node_modules/@ros-rollback/nix-core"
      "node_modules/typescript"
      "node_modules/@types/node"
      "node_modules/@bufbuild/protobuf"
      "node_modules/@grpc/grpc-js"
      "node_modules/pino"
      "node_modules/rosnodejs"
      "node_modules/systemd-journald"
      "node_modules/zod"
    ])
    [ ]
  )

  (test "build lock (ours): package.json and the lock's root list the same devDependencies"
    [
      built.packageJson.devDependencies
      built.lock.packages."".devDependencies
    ]
    [
      {
        "@types/node" = "^20.19.43";
        typescript = "^5.9.3";
      }
      {
        "@types/node" = "^20.19.43";
        typescript = "^5.9.3";
      }
    ]
  )

  (test "build lock (ours): closed (trimming it again keeps every entry: all it needs is in it)"
    (builtins.attrNames
      (buildLock.trim {
        inherit (built) packageJson lock;
      }).lock.packages
    )
    builtKeys
  )

  (test "nix/npm-deps.json holds an SRI sha256 hash"
    (builtins.match "sha256-[A-Za-z0-9+/]{43}=" npmDeps.npmDepsHash != null)
    true
  )
]

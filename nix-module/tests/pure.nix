# Tests of the plain Nix functions (no nixpkgs): a list of { name, ok, got, expected }.
# Run by ./run.sh (nix-instantiate --eval --strict --json) and by the flake's checks.nix-module.
let
  agentConfig = import ../agent-config.nix;
  rosLib = import ../ros-lib.nix;
  operator = import ../vm/operator.nix;
  vmSettings = import ../vm/agent-settings.nix { inherit (operator) trustedPublicKeys; };
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

  # The flake's outputs, evaluated with ./fake-nixpkgs.nix for nixpkgs (no lib: nothing here may
  # need it) and no overlay.
  flakeOutputs = (import ../../flake.nix).outputs {
    self = flakeOutputs;
    nixpkgs = {
      outPath = ./fake-nixpkgs.nix;
      lib = throw "pure.nix: the flake needed nixpkgs' lib";
    };
    nix-ros-overlay = { };
  };
  namesPerSystem = builtins.mapAttrs (_: builtins.attrNames);

  # nix-module/agent.nix with a stand-in lib: mkOption keeps its declaration, types.submodule its
  # options, so the settings' option defaults can be read and the module's assertions evaluated.
  agentModule =
    settings:
    import ../agent.nix {
      config.services.ros-rollback-agent = {
        enable = true;
        inherit settings;
      };
      lib = {
        mkOption = decl: decl // { _type = "option"; };
        mkIf = cond: value: if cond then value else { };
        types.submodule = m: m;
      };
      pkgs = { };
    };
  # What the module system gives `settings` when the configuration sets none of it.
  optionDefaults = builtins.mapAttrs (
    name: o:
    if (o._type or null) == "option" then
      o.default or (throw "The option `services.ros-rollback-agent.settings.${name}' is used but not defined.")
    else
      optionDefaults o
  );
  settingsOptions = (agentModule { }).options.services.ros-rollback-agent.settings.type.options;
  evaluated =
    v:
    let
      r = builtins.tryEval (builtins.deepSeq v v);
    in
    if r.success then r.value else "evaluation failed";
  key = "k-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

  test = name: got: expected: {
    inherit name got expected;
    ok = got == expected;
  };
in
[
  (test "render drops nulls at any depth and keeps false, 0 and empty lists"
    (agentConfig.clean {
      a = null;
      b = false;
      c = 0;
      d = [ ];
      e = {
        f = null;
        g = [
          {
            h = null;
            i = 1;
          }
        ];
      };
    })
    {
      b = false;
      c = 0;
      d = [ ];
      e.g = [ { i = 1; } ];
    }
  )

  (test "render fills the module's defaults in under the given settings"
    (agentConfig.render {
      trustedPublicKeys = [ key ];
      listen = "[::]:6000";
      tls.keyFile = "/run/keys/agent.key";
      metrics.enabled = false;
    })
    {
      listen = "[::]:6000";
      trustedPublicKeys = [ key ];
      tls = {
        caFile = "/etc/ros-rollback/tls/ca.pem";
        certFile = "/etc/ros-rollback/tls/agent.pem";
        keyFile = "/run/keys/agent.key";
      };
      profile = "/nix/var/nix/profiles/system";
      stateDir = "/var/lib/ros-rollback";
      agentUnit = "ros-rollback-agent.service";
      metrics = {
        enabled = false;
        listen = "127.0.0.1:9464";
      };
    }
  )

  (test "merge replaces lists instead of concatenating them"
    (agentConfig.merge {
      a = [ 1 ];
      b.c = 1;
    } { a = [ 2 ]; })
    {
      a = [ 2 ];
      b.c = 1;
    }
  )

  (test "portOf reads host:port and [v6]:port, and refuses the rest"
    (map agentConfig.portOf [
      "0.0.0.0:50051"
      "[::]:9464"
      "robot.local:1"
      "50051"
      "a:b:1"
      ""
    ])
    [
      50051
      9464
      1
      null
      null
      null
    ]
  )

  (test "isLoopback knows 127/8, ::1 and localhost"
    (map agentConfig.isLoopback [
      "127.0.0.1:1"
      "127.9.9.9:1"
      "[::1]:2"
      "localhost:3"
      "0.0.0.0:4"
      "[::]:5"
      "192.168.122.10:6"
    ])
    [
      true
      true
      true
      true
      false
      false
      false
    ]
  )

  (test "errors: none for a complete config" (agentConfig.errors { trustedPublicKeys = [ key ]; }) [ ])

  (test "errors: the mistakes a Nix config makes are caught at evaluation"
    (agentConfig.errors {
      trustedPublicKeys = [ "not-a-key" ];
      listen = "50051";
      insecure = true;
      tls.keyFile = "/nix/store/0000-agent.key";
      tls.certFile = "relative.pem";
    })
    [
      "trustedPublicKeys: \"not-a-key\" is not name:base64 of a 32-byte key"
      "listen: expected host:port, got \"50051\""
      "insecure: plaintext gRPC is allowed only on a loopback listen address"
      "tls: \"relative.pem\" must be an absolute path on the robot"
      "tls: /nix/store/0000-agent.key is in the Nix store, which every local user can read; keep keys out of the store"
    ]
  )

  (test "errors: at least one trusted key" (agentConfig.errors { }) [
    "trustedPublicKeys: at least one Nix public key (name:base64) is required"
  ])

  (test "the demo VM's agent config has no errors" (agentConfig.errors vmSettings) [ ])

  (test "the demo VM's agent watches roscore, talker, listener and /chatter"
    (
      let
        c = agentConfig.render vmSettings;
      in
      {
        inherit (c) listen;
        units = map (u: u.name) c.health.systemd.units;
        topics = map (t: t.name) c.health.ros.topics;
        metrics = c.metrics.listen;
      }
    )
    {
      listen = "0.0.0.0:50051";
      units = [
        "listener.service"
        "roscore.service"
        "talker.service"
      ];
      topics = [ "/chatter" ];
      metrics = "127.0.0.1:9464";
    }
  )

  (test "ros nodeArgs: remappings, private parameters, then extra arguments"
    (rosLib.nodeArgs {
      remap = {
        chatter_header = "chatter";
      };
      params = {
        rate = "10";
      };
      args = [ "--verbose" ];
    })
    [
      "chatter_header:=chatter"
      "_rate:=10"
      "--verbose"
    ]
  )

  (test "ros nodeArgs: nothing for a plain node" (rosLib.nodeArgs { }) [ ])

  (test "ros units: the master and one unit per node"
    (rosLib.units {
      talker = { };
      listener = { };
    })
    [
      "roscore.service"
      "listener.service"
      "talker.service"
    ]
  )

  (test "ros masterUri" (rosLib.masterUri "127.0.0.1" 11311) "http://127.0.0.1:11311/")

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

  (test "build lock: keeps the workspaces, their links and what they need (nested first), drops the dev tool's closure"
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

  (test "build lock (ours): no lint, test, bundler or code-generator package is left"
    (builtins.filter (
      k:
      builtins.match ".*node_modules/(@biomejs/.*|vitest|@vitest/.*|vite|tsx|ts-proto|esbuild|@esbuild/.*|rollup|@rollup/.*)" k
      != null
    ) builtKeys)
    [ ]
  )

  (test "build lock (ours): the compiler, the runtime dependencies, the workspaces and their links are kept"
    (builtins.filter (k: !(builtins.elem k builtKeys)) [
      ""
      "proto"
      "agent"
      "controller"
      "integration-tests"
      "node_modules/@ros-rollback/proto"
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

  (test "flake: package, module, apps, dev shell, checks and formatter for x86_64-linux and aarch64-linux"
    {
      packages = namesPerSystem flakeOutputs.packages;
      apps = namesPerSystem flakeOutputs.apps;
      devShells = namesPerSystem flakeOutputs.devShells;
      checks = namesPerSystem flakeOutputs.checks;
      formatter = builtins.attrNames flakeOutputs.formatter;
      nixosModules = builtins.attrNames flakeOutputs.nixosModules;
    }
    {
      packages = {
        aarch64-linux = [
          "default"
          "npm-lock"
        ];
        x86_64-linux = [
          "default"
          "npm-lock"
          "qemu"
          "vbox"
        ];
      };
      apps = {
        aarch64-linux = [
          "default"
          "demo-pki"
          "update-npm-deps-hash"
        ];
        x86_64-linux = [
          "default"
          "demo-pki"
          "update-npm-deps-hash"
        ];
      };
      devShells = {
        aarch64-linux = [ "default" ];
        x86_64-linux = [ "default" ];
      };
      checks = {
        aarch64-linux = [
          "nix-module"
          "package"
        ];
        x86_64-linux = [
          "nix-module"
          "package"
          "vm-test"
        ];
      };
      formatter = [
        "aarch64-linux"
        "x86_64-linux"
      ];
      nixosModules = [
        "default"
        "ros"
      ];
    }
  )

  (test "flake: each system's package (and the module's default package on that system) is nix/package.nix built for it, with the recorded hash"
    (map
      (
        system:
        let
          p = evaluated flakeOutputs.packages.${system}.default;
          m =
            (flakeOutputs.nixosModules.default {
              pkgs = import ./fake-nixpkgs.nix { inherit system; };
              lib.mkDefault = x: x;
            }).services.ros-rollback-agent.package;
        in
        {
          package =
            if p == "evaluation failed" then
              p
            else
              [
                (p.fn == ../../nix/package.nix)
                p.system
                p.args.npmDepsHash
              ];
          module = [
            (m.fn == ../../nix/package.nix)
            m.system
          ];
        }
      )
      [
        "x86_64-linux"
        "aarch64-linux"
      ]
    )
    (map
      (system: {
        package = [
          true
          system
          npmDeps.npmDepsHash
        ];
        module = [
          true
          system
        ];
      })
      [
        "x86_64-linux"
        "aarch64-linux"
      ]
    )
  )

  (test "module: settings.trustedPublicKeys defaults to [ ], so a config without keys gets the module's own message"
    (evaluated {
      default = settingsOptions.trustedPublicKeys.default or "none";
      messages = map (a: a.message) (agentModule (optionDefaults settingsOptions)).config.assertions;
    })
    {
      default = [ ];
      messages = [
        "services.ros-rollback-agent.settings: trustedPublicKeys: at least one Nix public key (name:base64) is required"
      ];
    }
  )

  (test "nix/npm-deps.json holds an SRI sha256 hash"
    (builtins.match "sha256-[A-Za-z0-9+/]{43}=" npmDeps.npmDepsHash != null)
    true
  )
]

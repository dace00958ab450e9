# Tests of the flake's outputs, evaluated without nixpkgs (./fake-nixpkgs.nix stands in): a list
# of { name, ok, got, expected }, part of ./pure.nix.
let
  npmDeps = builtins.fromJSON (builtins.readFile ../../nix/npm-deps.json);

  # The flake's outputs, evaluated with ./fake-nixpkgs.nix for nixpkgs (no lib: nothing here may
  # need it) and no overlay.
  flakeOutputs = (import ../../flake.nix).outputs {
    self = flakeOutputs;
    nixpkgs = {
      outPath = ./fake-nixpkgs.nix;
      lib = throw "flake-tests.nix: the flake needed nixpkgs' lib";
    };
    nix-ros-overlay = { };
  };
  namesPerSystem = builtins.mapAttrs (_: builtins.attrNames);
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
        "relay"
        "ros"
      ];
    }
  )

  (test "flake: each system's package (and the agent and relay modules' default package on that system) is nix/package.nix built for it, with the recorded hash"
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
          r =
            (flakeOutputs.nixosModules.relay {
              pkgs = import ./fake-nixpkgs.nix { inherit system; };
              lib.mkDefault = x: x;
            }).services.ros-rollback-relay.package;
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
          relayModule = [
            (r.fn == ../../nix/package.nix)
            r.system
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
        relayModule = [
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

]

{
  description = "ros-rollback: safe OTA updates for ROS 1 robots that run NixOS";

  inputs = {
    # ROS 1 (noetic) lives on this branch: the overlay's develop branch dropped it.
    nix-ros-overlay.url = "github:lopsided98/nix-ros-overlay/ros1-25.05";
    # nixos-25.05, as pinned by the overlay (its binary cache is built against that pin).
    nixpkgs.follows = "nix-ros-overlay/nixpkgs";
  };

  outputs =
    {
      self,
      nixpkgs,
      nix-ros-overlay,
    }:
    let
      inherit (nixpkgs) lib;

      # Robots are often ARM (Jetson, Raspberry Pi). The demo VM images stay x86_64.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      # builtins only, so nix-module/tests/flake-tests.nix can list the outputs without nixpkgs.
      forAllSystems =
        f:
        builtins.listToAttrs (
          map (system: {
            name = system;
            value = f system;
          }) systems
        );
      onlyOn = system: wanted: attrs: if system == wanted then attrs else { };

      # nix/npm-deps.json: the fixed-output hash of the npm dependencies and the sha256 of the
      # trimmed lock it was computed for (nix/build-lock.nix; `bash nix/print-build-lock.sh --digest`).
      # A changed lock makes the package fail at evaluation, naming the fix, instead of a confusing
      # hash mismatch or a stale cache.
      npmDepsFile = builtins.fromJSON (builtins.readFile ./nix/npm-deps.json);
      buildLock = import ./nix/build-lock.nix;
      lockDigest = buildLock.digest (buildLock.fromFiles ./package.json ./package-lock.json);
      npmDepsHash =
        if npmDepsFile.lockDigest == lockDigest then
          npmDepsFile.npmDepsHash
        else
          throw "the npm dependencies of the build changed since nix/npm-deps.json was written: run `nix run .#update-npm-deps-hash`";

      npmLockFor =
        pkgs:
        pkgs.callPackage ./nix/npm-lock.nix {
          nodejs = pkgs.nodejs_20;
          packageJsonFile = ./package.json;
          lockFile = ./package-lock.json;
        };

      rosRollbackFor =
        pkgs:
        pkgs.callPackage ./nix/package.nix {
          nodejs = pkgs.nodejs_20;
          inherit npmDepsHash;
        };

      pkgsFor =
        system:
        import nixpkgs {
          inherit system;
          overlays = [ self.overlays.default ];
        };

      robotModules = [
        self.nixosModules.default
        self.nixosModules.ros
      ];
    in
    {
      overlays.default = final: _prev: { ros-rollback = rosRollbackFor final; };

      packages = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          default = pkgs.ros-rollback;
          # The package.json and package-lock.json (with `resolved` URLs) the build installs from.
          npm-lock = npmLockFor pkgs;
        }
        // onlyOn system "x86_64-linux" {
          # The robot VM's disk images, each built from the configuration a deployment replaces.
          qemu = self.nixosConfigurations.nixos-vm.config.system.build.qcow2;
          vbox = self.nixosConfigurations.nixos-vm-vbox.config.system.build.virtualBoxOVA;
        }
      );

      apps = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          default = {
            type = "app";
            program = "${pkgs.ros-rollback}/bin/ros-rollback";
            meta.description = "the ros-rollback controller";
          };
          update-npm-deps-hash = {
            type = "app";
            program = lib.getExe (
              pkgs.callPackage ./nix/update-npm-deps-hash.nix {
                inherit lockDigest;
                sourceLockDigest = builtins.hashFile "sha256" ./package-lock.json;
                # Independent of npmDepsHash, so this app evaluates while the recorded hash is stale.
                npmLock = npmLockFor pkgs;
              }
            );
            meta.description = "recompute nix/npm-deps.json after package-lock.json changed";
          };
          demo-pki = {
            type = "app";
            program = lib.getExe (
              pkgs.writeShellApplication {
                name = "demo-pki";
                runtimeInputs = [ pkgs.openssl ];
                text = builtins.readFile ./nix/demo-pki.sh;
              }
            );
            meta.description = "make a CA, the agent's and the controller's TLS certificates";
          };
        }
      );

      devShells = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          default = pkgs.mkShell {
            packages = [
              pkgs.nodejs_20
              pkgs.ros-rollback
              pkgs.nix
              pkgs.prefetch-npm-deps
              pkgs.nixfmt-rfc-style
              pkgs.openssl
              pkgs.zstd
            ];
          };
        }
      );

      # The agent: services.ros-rollback-agent (package defaults to this flake's build for the
      # robot's own nixpkgs and platform).
      nixosModules.default =
        { pkgs, lib, ... }:
        {
          imports = [ ./nix-module/agent.nix ];
          services.ros-rollback-agent.package = lib.mkDefault (rosRollbackFor pkgs);
        };

      # The relay robots behind NAT dial out to: services.ros-rollback-relay (same package).
      nixosModules.relay =
        { pkgs, lib, ... }:
        {
          imports = [ ./nix-module/relay.nix ];
          services.ros-rollback-relay.package = lib.mkDefault (rosRollbackFor pkgs);
        };

      # A ROS 1 master and nodes (services.ros-robot, over nix-ros-overlay's services.ros).
      nixosModules.ros = {
        imports = [
          nix-ros-overlay.nixosModules.default
          ./nix-module/ros.nix
        ];
      };

      nixosConfigurations = import ./nix-module/vm {
        inherit nixpkgs;
        modules = robotModules;
      };

      # Where the demo robots' agents are, for `ros-rollback deploy .#nixos-vm --target vm`
      # (`nix eval --json .#rosRollback.nodes`). TLS paths are relative to the flake's directory:
      # `nix run .#demo-pki -- pki nixos-vm IP:192.168.122.10` writes them.
      rosRollback.nodes = {
        vm = {
          address = "192.168.122.10:50051";
          caFile = "pki/ca.pem";
          certFile = "pki/controller.pem";
          keyFile = "pki/controller.key";
          serverName = "nixos-vm";
        };
        # VirtualBox: NAT forwards 127.0.0.1:50051 to the VM's agent.
        vbox = {
          address = "127.0.0.1:50051";
          caFile = "pki/ca.pem";
          certFile = "pki/controller.pem";
          keyFile = "pki/controller.key";
          serverName = "nixos-vm";
        };
      };

      checks = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          package = pkgs.ros-rollback;
          # The pure-Nix tests of nix-module/tests (also run by scripts/test.sh without nixpkgs).
          nix-module =
            let
              results = import ./nix-module/tests/pure.nix;
              failed = builtins.filter (r: !r.ok) results;
            in
            if failed == [ ] then
              pkgs.writeText "ros-rollback-nix-module-tests.json" (builtins.toJSON results)
            else
              throw "nix-module tests failed: ${builtins.toJSON failed}";
        }
        // onlyOn system "x86_64-linux" {
          # Its robot is the x86_64 demo VM (nix-module/vm).
          vm-test = import ./nix-module/tests/vm-test.nix {
            inherit nixpkgs pkgs;
            modules = robotModules;
          };
        }
      );

      formatter = forAllSystems (system: (pkgsFor system).nixfmt-rfc-style);
    };
}

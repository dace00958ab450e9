# services.ros-rollback-agent: the agent that receives system closures, switches the system profile
# and rolls back (nixosModules.default). RFC 42 style: `settings` is the agent's JSON config (see
# agent/src/config/schema.ts; unknown keys are refused there), with typed options for the keys that
# matter most. The JSON is rendered by ./agent-config.nix, a plain function tested without nixpkgs.
#
# Restarts: the unit has `restartIfChanged = false`. A deployment runs switch-to-configuration in its
# own transient unit, and the agent must stay up to judge health, wait for Confirm and roll back, so
# the switch never stops or restarts it, even when the new system changes this unit or its config.
# Once such a deployment is kept (confirmed), the agent restarts its own unit from a transient
# systemd timer (agent/src/system/self-restart.ts, `settings.agentUnit`), so the new agent and config
# take over only after the deployment has been judged.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkOption
    types
    ;
  cfg = config.services.ros-rollback-agent;
  agentConfig = import ./agent-config.nix;
  d = agentConfig.defaults;
  json = pkgs.formats.json { };

  # Paths on the robot are strings, so Nix never copies a key into the store.
  robotPath = types.strMatching "/.+";
  seconds = types.either types.ints.positive (types.addCheck types.float (x: x > 0));

  rendered = agentConfig.render cfg.settings;
  configFile = json.generate "ros-rollback-agent.json" rendered;

  grpcPort = agentConfig.portOf cfg.settings.listen;
  metricsPort = agentConfig.portOf cfg.settings.metrics.listen;
  tlsDirs = lib.unique (map dirOf (builtins.filter (p: p != null) (builtins.attrValues cfg.settings.tls)));
  stateUnderVarLib = lib.hasPrefix "/var/lib/" cfg.settings.stateDir;

  dialOutEntry = types.submodule {
    options = {
      relay = mkOption {
        type = types.str;
        example = "relay.example.org:7443";
        description = "host:port of the relay's robot port (its `robotListen`).";
      };
      caFile = mkOption {
        type = types.nullOr robotPath;
        default = null;
        description = "CA of the relay's certificate (default `tls.caFile`). A path on the robot.";
      };
      certFile = mkOption {
        type = types.nullOr robotPath;
        default = null;
        description = "Client certificate for the relay, CN = the robot's name there (default `tls.certFile`).";
      };
      keyFile = mkOption {
        type = types.nullOr robotPath;
        default = null;
        description = "Its key (with `certFile`). A path on the robot, never in the Nix store.";
      };
    };
  };

  dataEntry = types.submodule {
    options = {
      path = mkOption {
        type = robotPath;
        description = "A directory on the robot whose content belongs to the generation.";
      };
      units = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Units that write it: stopped for the snapshot and the restore, started again after.";
      };
    };
  };

  unitCheck = types.submodule {
    freeformType = json.type;
    options = {
      name = mkOption {
        type = types.str;
        example = "talker.service";
        description = "systemd unit to watch.";
      };
      required = mkOption {
        type = types.nullOr types.bool;
        default = null;
        description = "Must be active (the agent's default: true). Not required: may be inactive, never failed.";
      };
    };
  };

  topicCheck = types.submodule {
    freeformType = json.type;
    options = {
      name = mkOption {
        type = types.strMatching "/.*";
        example = "/chatter";
        description = "Absolute topic name (any message type).";
      };
      maxSilenceSeconds = mkOption {
        type = types.nullOr seconds;
        default = null;
        description = "Unhealthy when the last message is older (the agent's default: 5).";
      };
      minRateHz = mkOption {
        type = types.nullOr seconds;
        default = null;
        description = "Unhealthy below this rate over `health.ros.rateWindowSeconds` (default: no rate check).";
      };
    };
  };

  # agent/src/holds/conditions.ts; the agent's schema checks the rest (e.g. a unit name's suffix).
  holdCondition = types.submodule {
    freeformType = json.type;
    options = {
      kind = mkOption {
        type = types.enum [
          "unit"
          "topic"
        ];
        description = "`unit`: held while the unit is active; `topic`: held while the latest message is not one of `releasedWhen`.";
      };
      unit = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "mission.service";
        description = "For `kind = \"unit\"`: held while this unit is active, activating, reloading or deactivating.";
      };
      topic = mkOption {
        type = types.nullOr (types.strMatching "/.*");
        default = null;
        example = "/mission_state";
        description = "For `kind = \"topic\"`: a std_msgs/String topic (read through `health.ros`).";
      };
      releasedWhen = mkOption {
        type = types.nullOr (types.listOf types.str);
        default = null;
        example = [ "idle" ];
        description = "For `kind = \"topic\"`: the robot is free only while the latest message is one of these.";
      };
      reason = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Shown instead of the agent's own reason (e.g. \"mission running\").";
      };
    };
  };

  rosSection = types.submodule {
    freeformType = json.type;
    options = {
      masterUri = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "http://127.0.0.1:11311";
        description = "ROS master to ask (the agent's default: http://127.0.0.1:11311).";
      };
      topics = mkOption {
        type = types.listOf topicCheck;
        default = [ ];
        description = "Topics that must be alive.";
      };
      requiredNodes = mkOption {
        type = types.listOf (types.strMatching "/.*");
        default = [ ];
        description = "Node names that must be registered with the master.";
      };
    };
  };

  healthType = types.submodule {
    freeformType = json.type;
    options = {
      settleSeconds = mkOption {
        type = types.nullOr (types.either types.ints.unsigned types.float);
        default = null;
        description = "Seconds after the switch before health rounds count (agent default 5).";
      };
      stableSeconds = mkOption {
        type = types.nullOr seconds;
        default = null;
        description = "The system must be healthy in every round for this long (agent default 30).";
      };
      timeoutSeconds = mkOption {
        type = types.nullOr seconds;
        default = null;
        description = "No stable period within this many seconds after settling means unhealthy (agent default 300).";
      };
      systemd.units = mkOption {
        type = types.listOf unitCheck;
        default = [ ];
        example = literalExpression ''map (name: { inherit name; }) config.services.ros-robot.units'';
        description = "systemd units that must be healthy (active, not failed, not restarted during the window).";
      };
      ros = mkOption {
        type = types.nullOr rosSection;
        default = null;
        description = "ROS 1 checks (the master must be reachable); null: none, and rosnodejs is never loaded.";
      };
    };
  };
in
{
  imports = [ ./boot-counting.nix ];

  options.services.ros-rollback-agent = {
    enable = mkEnableOption "the ros-rollback agent (deploys, health-checks and rolls back this system)";

    package = mkOption {
      type = types.package;
      description = "The ros-rollback package (its `bin/ros-rollback-agent`). The flake's module sets it.";
    };

    dataDeclared = mkOption {
      type = types.listOf dataEntry;
      default = [ ];
      description = ''
        This generation's own data entries, written into its system closure
        (`$system/ros-rollback/data.json`) and merged by the agent with `settings.data`.
      '';
    };
    migrate = mkOption {
      type = types.nullOr types.lines;
      default = null;
      description = ''
        Shell script run by the agent after the data snapshot and before switching to this generation
        (`$system/ros-rollback/migrate`, bounded by `settings.migrateTimeoutSeconds`); a non-zero exit
        rolls the deployment back and restores the data.
      '';
    };
    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the gRPC port of `settings.listen` (TCP) in the firewall.";
    };

    openMetricsFirewall = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Open the port of `settings.metrics.listen` in the firewall. Only useful with a non-loopback
        metrics address, and best with `settings.metrics.tls` (see README "Observability").
      '';
    };

    holdGroup = mkOption {
      type = types.str;
      default = agentConfig.holdGroup;
      description = ''
        Group whose members (and root) may hold the robot by writing a file into `settings.holds.dir`
        (name = the hold's name, first line = the reason). Give it to the robot software's units with
        `SupplementaryGroups=`, e.g. `systemd.services.mission.serviceConfig.SupplementaryGroups =
        [ "ros-rollback-hold" ];`. The directory is sticky: a writer removes only its own hold files.
        The agent reads a hold file's reason only when every member of this group could: mode 0644, or
        0640 with this group; any other entry (a private file, symlink, FIFO, directory, socket) still
        holds, its reason saying what it is, and is never opened or followed.
      '';
    };

    watchdogSec = mkOption {
      type = types.ints.positive;
      default = 30;
      description = "systemd's WatchdogSec= (the agent pings every half of it from its event loop, each time after an fs.stat on a libuv pool thread returned: a stuck loop or pool is restarted).";
    };

    trustSigningKeysInNix = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Add `settings.trustedPublicKeys` to Nix's `extra-trusted-public-keys`, so paths the operator
        signed are also valid to Nix itself (e.g. when copied with `nix copy`).
      '';
    };

    settings = mkOption {
      default = { };
      description = ''
        The agent's JSON config (agent/src/config/schema.ts; the README's "Agent configuration").
        Any key of the schema may be set; `null` leaves a key out (the agent's default applies).
      '';
      type = types.submodule {
        freeformType = json.type;
        options = {
          listen = mkOption {
            type = types.nullOr types.str;
            default = d.listen;
            description = "host:port of the gRPC server (mutual TLS); null with `dialOut`: no inbound port.";
          };
          dialOut = mkOption {
            type = types.listOf dialOutEntry;
            default = [ ];
            example = [ { relay = "relay.example.org:7443"; } ];
            description = ''
              Relays the agent keeps an outbound connection to (robots behind NAT; relay/README.md),
              one each, at most 8. Controllers reach the agent through them with their mutual TLS end
              to end. With a relay, `listen = null` leaves the inbound port out.
            '';
          };
          tls = {
            caFile = mkOption {
              type = robotPath;
              default = d.tls.caFile;
              description = "CA that client (controller) certificates must chain to. A path on the robot.";
            };
            certFile = mkOption {
              type = robotPath;
              default = d.tls.certFile;
              description = "The agent's server certificate. A path on the robot.";
            };
            keyFile = mkOption {
              type = robotPath;
              default = d.tls.keyFile;
              description = "The agent's private key: a path on the robot (mode 0400, root), never in the Nix store.";
            };
            crlFile = mkOption {
              type = types.nullOr robotPath;
              default = null;
              description = ''
                PEM CRL of the CA, checked at every handshake. The agent reads the TLS files again when
                one changes or on SIGHUP (`systemctl reload` is not needed; open connections stay). A path
                on the robot.
              '';
            };
          };
          access = mkOption {
            # Explicit: without rules every certificate of tls.caFile may deploy, roll back and hold
            # (the agent warns at start and ros_rollback_access_control_enforced is 0).
            type = types.nullOr (
              types.submodule {
                options.rules = mkOption {
                  type = types.listOf (
                    types.submodule {
                      options = {
                        cn = mkOption { type = types.nullOr types.str; default = null; description = "Subject CN, exactly."; };
                        o = mkOption { type = types.nullOr types.str; default = null; description = "One of the subject's O, exactly."; };
                        ou = mkOption { type = types.nullOr types.str; default = null; description = "One of the subject's OU, exactly."; };
                        uri = mkOption { type = types.nullOr types.str; default = null; description = "One of the SAN URIs, exactly."; };
                        fingerprint = mkOption { type = types.nullOr types.str; default = null; description = "SHA-256 fingerprint (AB:CD:…) of one certificate."; };
                        roles = mkOption {
                          type = types.listOf (types.enum [ "read" "deploy" "hold" ]);
                          description = "Roles given to a certificate that matches every field set here.";
                        };
                      };
                    }
                  );
                  default = [ ];
                  description = "Rules; a certificate's roles are the union of the rules it matches.";
                };
              }
            );
            default = null;
            example = {
              rules = [
                { o = "fleet-ops"; roles = [ "read" "deploy" "hold" ]; }
                { uri = "spiffe://fleet/monitoring"; roles = [ "read" ]; }
              ];
            };
            description = ''
              Who may do what: roles (`read`: status, generations, watch, health, plan, audit;
              `deploy`: push, substitute, activate, confirm, rollback; `hold`: hold, release, and with
              `deploy` overriding holds) from client-certificate subjects and SAN URIs. Unmatched
              certificates get nothing. `null` (the default): every certificate chaining to
              `tls.caFile` may do everything, and the agent warns at start.
            '';
          };
          trustedPublicKeys = mkOption {
            type = types.listOf types.str;
            # Empty is refused by the module's own assertion (agent-config.nix `errors`), which says
            # what is missing; without a default Nix would only say "used but not defined".
            default = [ ];
            example = [ "operator-1:8ya0F2pLUa5KW0VfKhcYV1ZVKr1AzDGnYk4aZC5V3QA=" ];
            description = "Nix public keys (`name:base64`); a pushed path needs a signature by one of them.";
          };
          substituters = mkOption {
            type = types.listOf types.str;
            default = [ ];
            example = [ "http://10.0.0.2:8080" ];
            description = ''
              Binary caches (http://, https://, file:///) the agent may substitute from, in order; the
              only caches it ever fetches from (a controller asks it to substitute, never names a URL).
              Paths from them need a signature by one of `trustedPublicKeys`, as pushed paths do.
            '';
          };
          profile = mkOption {
            type = robotPath;
            default = d.profile;
            description = "The system profile whose generations the agent manages.";
          };
          stateDir = mkOption {
            type = robotPath;
            default = d.stateDir;
            description = "Where the deployment record lives (written before every side effect).";
          };
          agentUnit = mkOption {
            type = types.str;
            default = d.agentUnit;
            readOnly = true;
            description = "This module's unit, which the agent restarts after a kept deployment that changed it.";
          };
          confirmTimeoutSeconds = mkOption {
            type = types.nullOr types.ints.positive;
            default = null;
            description = "Seconds a healthy deployment waits for Confirm before the magic rollback (agent default 30).";
          };
          activationTimeoutSeconds = mkOption {
            type = types.nullOr types.ints.positive;
            default = null;
            description = "Bound for one switch-to-configuration run (agent default 600).";
          };
          metrics = {
            enabled = mkOption {
              type = types.bool;
              default = d.metrics.enabled;
              description = "Serve Prometheus metrics at /metrics.";
            };
            listen = mkOption {
              type = types.str;
              default = d.metrics.listen;
              description = "host:port of the metrics endpoint (loopback by default: nothing leaves the robot).";
            };
          };
          data = mkOption {
            type = types.listOf dataEntry;
            default = [ ];
            example = [
              {
                path = "/var/lib/mapping";
                units = [ "mapping.service" ];
              }
            ];
            description = ''
              Directories captured before every switch and restored by its rollback, with the units that
              write them (stopped meanwhile). A generation adds its own with `dataDeclared`. Refused (here
              and by the agent, ./data-checks.nix): a path on or around a system tree (/nix, /etc, /run,
              ...), /var/lib itself, the state or hold directory; not canonical; nesting or repeating
              another entry; a unit name systemd would not take.
            '';
          };
          holds = {
            dir = mkOption {
              type = robotPath;
              default = d.holds.dir;
              description = ''
                Robot software holds the robot by dropping a file here. The module makes it (tmpfiles, mode
                1770, group `holdGroup`); under /run it empties at boot, but not when the agent restarts
                or the system switches.
              '';
            };
            conditions = mkOption {
              type = types.listOf holdCondition;
              default = [ ];
              example = [
                {
                  kind = "topic";
                  topic = "/mission_state";
                  releasedWhen = [ "idle" ];
                }
                {
                  kind = "unit";
                  unit = "mission.service";
                }
              ];
              description = ''
                Conditions that hold the robot against a controller's deploys and rollbacks (never the
                agent's own rollbacks). Unknown counts as held: a topic with no message yet holds.
              '';
            };
          };
          gc = {
            enabled = mkOption {
              type = types.bool;
              default = true;
              description = ''
                Delete generations beyond the retention policy and run Nix's garbage collection after
                every kept or rolled-back deployment (in its own unit, at idle priority).
              '';
            };
            keepGenerations = mkOption {
              type = types.ints.between 1 1000;
              default = d.gc.keepGenerations;
              description = ''
                The newest generations not known to have failed that are kept, besides the current,
                booted and previous ones. Failed and rolled-back generations are always deleted.
                The bootloader keeps this many entries plus two (`boot.loader.*.configurationLimit`).
              '';
            };
          };
          health = mkOption {
            type = healthType;
            default = { };
            description = "Health checks judged after every switch (agent/src/health/README.md).";
          };
        };
      };
    };
  };

  config = mkIf cfg.enable {
    assertions =
      map (message: {
        assertion = false;
        message = "services.ros-rollback-agent.settings: ${message}";
      }) (agentConfig.errors cfg.settings)
      # The agent would refuse this generation's deploys (INVALID_ARGUMENT): fail its build instead.
      ++ map (message: {
        assertion = false;
        message = "services.ros-rollback-agent: ${message}";
      }) (agentConfig.dataErrors cfg.settings cfg.dataDeclared).declared;

    # What this generation's services keep, and how to migrate it: read by the agent from the closure.
    system.extraSystemBuilderCmds = lib.optionalString (cfg.dataDeclared != [ ] || cfg.migrate != null) (
      "mkdir -p $out/ros-rollback\n"
      + lib.optionalString (cfg.dataDeclared != [ ]) ''
        cp ${pkgs.writeText "ros-rollback-data.json" (builtins.toJSON cfg.dataDeclared)} $out/ros-rollback/data.json
      ''
      + lib.optionalString (cfg.migrate != null) ''
        ln -s ${pkgs.writeShellScript "ros-rollback-migrate" cfg.migrate} $out/ros-rollback/migrate
      ''
    );

    # Boot entries follow the retention policy (agent-config.nix `bootEntries`): an entry never
    # outlives the system the agent's collection deleted, and /boot stays bounded.
    boot.loader = lib.mkIf cfg.settings.gc.enabled (
      let
        limit = lib.mkDefault (agentConfig.bootEntries cfg.settings.gc.keepGenerations);
      in
      {
        systemd-boot.configurationLimit = limit;
        grub.configurationLimit = limit;
        generic-extlinux-compatible.configurationLimit = limit;
      }
    );

    # For operators to read; the unit uses the store path, so a changed config is a changed unit.
    environment.etc."ros-rollback/agent.json".source = configFile;

    networking.firewall.allowedTCPPorts =
      lib.optional (cfg.openFirewall && grpcPort != null) grpcPort
      ++ lib.optional (cfg.openMetricsFirewall && cfg.settings.metrics.enabled && metricsPort != null) metricsPort;

    nix.settings.extra-trusted-public-keys = mkIf cfg.trustSigningKeysInNix cfg.settings.trustedPublicKeys;

    # The directories for the TLS files (filled by the operator), private to root; the hold
    # directory (agent-config.nix `holdDirRule` says why tmpfiles and not RuntimeDirectory=).
    systemd.tmpfiles.rules =
      map (dir: "d ${dir} 0700 root root - -") tlsDirs
      ++ lib.optional (!stateUnderVarLib) "d ${cfg.settings.stateDir} 0700 root root - -"
      ++ [ (agentConfig.holdDirRule cfg.settings.holds.dir cfg.holdGroup) ];

    users.groups.${cfg.holdGroup} = { };

    systemd.services.ros-rollback-agent = {
      description = "ros-rollback agent";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [
        "network-online.target"
        "nix-daemon.socket"
      ];

      # Never stopped or restarted by a switch (a deployment must not kill its own judge).
      restartIfChanged = false;

      # systemd-run/systemctl/journalctl/systemd-notify (systemd), flock (util-linux), nix-env and
      # nix-store (nix), zstd for compressed pushes; coreutils' `true` for flock.
      path = [
        config.nix.package
        config.systemd.package
        pkgs.util-linux
        pkgs.zstd
        pkgs.coreutils
        # Snapshots of declared data on btrfs subvolumes.
        pkgs.btrfs-progs
      ];

      environment = {
        # The store is read-only to this unit (and on NixOS mounted read-only): store writes go
        # through nix-daemon, where root is a trusted user.
        NIX_REMOTE = "daemon";
        HOME = cfg.settings.stateDir;
        ROS_HOME = "${cfg.settings.stateDir}/ros";
        # V8's young generation grows to 16 MB semi-spaces while the agent starts and keeps them:
        # 1 MB semi-spaces cut ~16 MB of idle RSS and ~15 MB of the peak (measured on a lab robot,
        # bench/agent.ts). The lab's agent unit sets the same (integration-tests/lab/config.ts).
        # Other memory flags (--optimize-for-size, --lite-mode: no WebAssembly, slow start) were
        # measured and left out.
        NODE_OPTIONS = "--max-semi-space-size=1";
        # glibc gives each thread (libuv's pool, V8's workers) a malloc arena of its own: 2 arenas
        # cut ~2 MB of idle RSS (measured the same way); the agent is not malloc-bound.
        MALLOC_ARENA_MAX = "2";
      };

      unitConfig = {
        # Never give up: a robot without its agent cannot be deployed to or rolled back remotely.
        StartLimitIntervalSec = 0;
      };

      serviceConfig = {
        ExecStart = "${lib.getExe' cfg.package "ros-rollback-agent"} --config ${configFile}";
        # READY=1 once gRPC and metrics listen, then WATCHDOG=1 pings (agent/src/logging/systemd-notify.ts),
        # sent through systemd-notify --pid. Without CAP_SYS_ADMIN (dropped below) the kernel refuses the
        # agent's pid in the credentials and libsystemd resends with systemd-notify's own (sd_pid_notify),
        # a process of this unit: NotifyAccess=all accepts it.
        Type = "notify";
        NotifyAccess = "all";
        WatchdogSec = cfg.watchdogSec;
        # Also covers the first boot of a new robot: the agent exits 75 until the operator has put the
        # TLS files in place, and starts within 5 s after.
        Restart = "always";
        RestartSec = 5;
        # 78 (EX_CONFIG): a config, TLS file, state dir or deployment record the operator must fix
        # (the journal has the one-line reason). Restarting cannot help; `systemctl restart` after the fix.
        RestartPreventExitStatus = 78;
        StateDirectory = mkIf stateUnderVarLib (lib.removePrefix "/var/lib/" cfg.settings.stateDir);
        StateDirectoryMode = "0700";
        UMask = "0077";

        # Root, because it sets the system profile (nix-env writes /nix/var/nix/profiles) and asks
        # PID 1 to run switch-to-configuration. The switch runs in its own transient unit (systemd-run),
        # so none of the sandboxing below applies to the activation itself.
        User = "root";
        # Reads hold files of mode 0640 (root without capabilities is bound by file modes).
        SupplementaryGroups = [ cfg.holdGroup ];
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        NoNewPrivileges = true;
        # /usr, /boot, /efi and /etc read-only; /nix/var (profiles, GC roots), /var and /run stay
        # writable (the profile, the state dir, /run/nixos/switch-to-configuration.lock).
        ProtectSystem = "full";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        # Not ProtectProc=invisible: the agent reads /proc/1/stat (boot identity) without CAP_SYS_PTRACE.
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        # AF_NETLINK: libuv's interface list (os.networkInterfaces, used by rosnodejs).
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
          "AF_NETLINK"
        ];
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" ];
        SystemCallErrorNumber = "EPERM";
        # Not MemoryDenyWriteExecute: V8's JIT needs writable and executable memory.
      };
    };
  };
}

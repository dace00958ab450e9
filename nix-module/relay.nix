# services.ros-rollback-relay: the relay robots behind NAT dial out to (relay/README.md;
# nixosModules.relay). Its JSON config is rendered by ./relay-config.nix, a plain function tested
# without nixpkgs. The relay keeps no state, so the unit needs no state directory and no root: it
# runs under a dynamic user and reads its TLS files as systemd credentials.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkEnableOption mkOption types;
  cfg = config.services.ros-rollback-relay;
  relayConfig = import ./relay-config.nix;
  d = relayConfig.defaults;
  json = pkgs.formats.json { };
  configFile = json.generate "ros-rollback-relay.json" (relayConfig.render cfg);
  ports = relayConfig.ports cfg;
  robotPath = types.strMatching "/.+";
  tlsFile =
    default: description:
    mkOption {
      type = robotPath;
      inherit default description;
    };
in
{
  options.services.ros-rollback-relay = {
    enable = mkEnableOption "the ros-rollback relay (robots behind NAT connect out to it)";

    package = mkOption {
      type = types.package;
      description = "The ros-rollback package (its `bin/ros-rollback-relay`). The flake's module sets it.";
    };

    robotListen = mkOption {
      type = types.str;
      default = d.robotListen;
      description = "host:port robots connect to (mutual TLS; their certificate's CN is their name).";
    };
    controllerListen = mkOption {
      type = types.str;
      default = d.controllerListen;
      description = "host:port controllers connect to (mutual TLS; the agent checks them again, end to end).";
    };
    metricsListen = mkOption {
      type = types.nullOr types.str;
      default = d.metricsListen;
      description = ''
        host:port of plain HTTP: the relay's own metrics at /metrics and each connected robot's at
        /robots/NAME/metrics. Loopback by default; null: none.
      '';
    };

    tls = {
      certFile = tlsFile d.tls.certFile "The relay's server certificate (both ports). A path on the relay host.";
      keyFile = tlsFile d.tls.keyFile "Its private key: a path on the relay host (root, 0400), never in the Nix store.";
      robotCaFile = tlsFile d.tls.robotCaFile "CA robots' certificates must chain to.";
      controllerCaFile = tlsFile d.tls.controllerCaFile "CA controllers' certificates must chain to.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the ports of `robotListen` and `controllerListen` (TCP).";
    };
    openMetricsFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the port of `metricsListen` (plain HTTP: only on a scrape network).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = map (message: {
      assertion = false;
      message = "services.ros-rollback-relay: ${message}";
    }) (relayConfig.errors cfg);

    environment.etc."ros-rollback-relay/relay.json".source = configFile;

    networking.firewall.allowedTCPPorts =
      lib.optionals cfg.openFirewall [
        ports.robot
        ports.controller
      ]
      ++ lib.optional (cfg.openMetricsFirewall && cfg.metricsListen != null) ports.metrics;

    systemd.services.ros-rollback-relay = {
      description = "ros-rollback relay";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      # Nothing to lose: robots redial (back-off 1 s → 60 s) and controllers retry.
      unitConfig.StartLimitIntervalSec = 0;
      serviceConfig = {
        ExecStart = "${lib.getExe' cfg.package "ros-rollback-relay"} --config ${configFile}";
        Restart = "always";
        RestartSec = 2;
        # 78 (EX_CONFIG): a config or TLS file the operator must fix; restarting cannot help.
        RestartPreventExitStatus = 78;
        LoadCredential = relayConfig.credentials cfg;
        DynamicUser = true;
        # A TLS session and two sockets per connected robot and per stream.
        LimitNOFILE = 65536;
        # Only to bind a port below 1024 (e.g. 443, which LTE networks rarely block).
        CapabilityBoundingSet = [ "CAP_NET_BIND_SERVICE" ];
        AmbientCapabilities = [ "CAP_NET_BIND_SERVICE" ];
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RemoveIPC = true;
        UMask = "0077";
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
        ];
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
        ];
        SystemCallErrorNumber = "EPERM";
        # Not MemoryDenyWriteExecute: V8's JIT needs writable and executable memory.
      };
    };
  };
}

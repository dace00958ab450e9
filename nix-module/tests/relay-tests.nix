# The relay module (../relay.nix, ../relay-config.nix) and the agent's dialOut (../agent-config.nix,
# ../agent.nix), evaluated without nixpkgs: part of ./pure.nix.
{
  agentConfig,
  agentModuleWith,
  optionDefaults,
  settingsOptions,
  evaluated,
  key,
  test,
}:
let
  relayConfig = import ../relay-config.nix;

  # ../relay.nix with a stand-in lib and pkgs: options keep their declarations, the JSON file is
  # the value it would be written from.
  relayModuleWith =
    cfg:
    import ../relay.nix {
      config.services.ros-rollback-relay = cfg;
      lib = {
        mkOption = decl: decl // { _type = "option"; };
        mkEnableOption = _: {
          _type = "option";
          default = false;
        };
        mkIf = cond: value: if cond then value else { };
        optional = cond: x: if cond then [ x ] else [ ];
        optionals = cond: xs: if cond then xs else [ ];
        getExe' = pkg: bin: "${pkg}/bin/${bin}";
        types = {
          str = "str";
          bool = "bool";
          package = "package";
          nullOr = t: "nullOr ${t}";
          strMatching = re: "strMatching ${re}";
        };
      };
      pkgs.formats.json = _: {
        generate = name: value: {
          outPath = "/nix/store/fake-${name}";
          inherit value;
        };
      };
    };
  relayDefaults = optionDefaults (relayModuleWith { }).options.services.ros-rollback-relay;
  relay =
    over:
    (relayModuleWith (
      agentConfig.merge relayDefaults (
        {
          enable = true;
          package = "/nix/store/pkg";
        }
        // over
      )
    )).config;

  agentWith =
    over:
    (agentModuleWith {
      settings = agentConfig.merge (optionDefaults settingsOptions) ({ trustedPublicKeys = [ key ]; } // over);
    }).config;
  messages = m: map (a: a.message) m.assertions;
in
[
  (test "relay module: the config the relay reads, its credentials, its unit user and its ports"
    (
      let
        c = relay { };
        s = c.systemd.services.ros-rollback-relay.serviceConfig;
      in
      evaluated {
        json = c.environment.etc."ros-rollback-relay/relay.json".source.value;
        exec = s.ExecStart;
        inherit (s) LoadCredential DynamicUser RestartPreventExitStatus;
        firewall = c.networking.firewall.allowedTCPPorts;
        assertions = messages c;
      }
    )
    {
      json = {
        robotListen = "0.0.0.0:7443";
        controllerListen = "0.0.0.0:7444";
        metricsListen = "127.0.0.1:9465";
        tls = {
          certFile = "/run/credentials/ros-rollback-relay.service/cert.pem";
          keyFile = "/run/credentials/ros-rollback-relay.service/key.pem";
          robotCaFile = "/run/credentials/ros-rollback-relay.service/robot-ca.pem";
          controllerCaFile = "/run/credentials/ros-rollback-relay.service/controller-ca.pem";
        };
      };
      exec = "/nix/store/pkg/bin/ros-rollback-relay --config /nix/store/fake-ros-rollback-relay.json";
      LoadCredential = [
        "cert.pem:/etc/ros-rollback-relay/tls/relay.pem"
        "controller-ca.pem:/etc/ros-rollback-relay/tls/controller-ca.pem"
        "key.pem:/etc/ros-rollback-relay/tls/relay.key"
        "robot-ca.pem:/etc/ros-rollback-relay/tls/robot-ca.pem"
      ];
      DynamicUser = true;
      RestartPreventExitStatus = 78;
      firewall = [ ];
      assertions = [ ];
    }
  )

  (test "relay module: openFirewall opens the robot and controller ports; metrics only with openMetricsFirewall; metricsListen = null: no key"
    (evaluated {
      both =
        (relay {
          openFirewall = true;
          robotListen = "[::]:443";
          controllerListen = "0.0.0.0:8443";
        }).networking.firewall.allowedTCPPorts;
      metrics = (relay { openMetricsFirewall = true; }).networking.firewall.allowedTCPPorts;
      noMetrics =
        (relay {
          metricsListen = null;
          openMetricsFirewall = true;
        }).environment.etc."ros-rollback-relay/relay.json".source.value ? metricsListen;
    })
    {
      both = [
        443
        8443
      ];
      metrics = [ 9465 ];
      noMetrics = false;
    }
  )

  (test "relay module: a bad address, a shared port and a key in the store fail at evaluation"
    (messages (relay {
      robotListen = "7443";
      metricsListen = "127.0.0.1:7444";
      tls.keyFile = "/nix/store/abc-relay.key";
    }))
    [
      "services.ros-rollback-relay: robotListen: expected host:port"
      "services.ros-rollback-relay: robotListen, controllerListen and metricsListen need different ports"
      "services.ros-rollback-relay: tls: /nix/store/abc-relay.key is in the Nix store, which every local user can read; keep keys out of the store"
    ]
  )

  (test "agent: dialOut is rendered with the unset TLS files left to the agent; listen = null leaves the port out; no dialOut: no key"
    (evaluated {
      natd = agentConfig.render {
        listen = null;
        dialOut = [
          {
            relay = "relay.example.org:7443";
            caFile = null;
            certFile = null;
            keyFile = null;
          }
        ];
      };
      plain = (agentConfig.render { dialOut = [ ]; }) ? dialOut;
      errors = agentConfig.errors {
        trustedPublicKeys = [ key ];
        listen = null;
        dialOut = [ { relay = "relay.example.org:7443"; } ];
      };
    })
    {
      natd = {
        inherit (agentConfig.defaults)
          tls
          profile
          stateDir
          agentUnit
          metrics
          holds
          gc
          ;
        dialOut = [ { relay = "relay.example.org:7443"; } ];
      };
      plain = false;
      errors = [ ];
    }
  )

  (test "agent: no listen without a relay, a relay that is not host:port, half a client certificate, dialOut with insecure"
    (agentConfig.errors {
      trustedPublicKeys = [ key ];
      listen = null;
      insecure = true;
      dialOut = [
        { relay = "relay.example.org"; }
        {
          relay = "r:1";
          certFile = "/etc/r.pem";
        }
      ];
    }
    ++ agentConfig.errors {
      trustedPublicKeys = [ key ];
      listen = null;
    }
    )
    [
      "dialOut: relay \"relay.example.org\" is not host:port"
      "dialOut: relay r:1 has certFile without keyFile or the reverse"
      "dialOut: needs tls (a relay is reached over mutual TLS only), not insecure"
      "listen: required unless dialOut names a relay (null leaves the port out)"
    ]
  )

  (test "agent module: dialOut defaults to [ ]; listen = null with a relay opens no firewall port and passes the assertions"
    (
      let
        c = agentWith {
          listen = null;
          dialOut = [ { relay = "relay.example.org:7443"; } ];
        };
      in
      evaluated {
        default = settingsOptions.dialOut.default;
        firewall = (agentModuleWith {
          openFirewall = true;
          openMetricsFirewall = false;
          settings = agentConfig.merge (optionDefaults settingsOptions) {
            trustedPublicKeys = [ key ];
            listen = null;
            dialOut = [ { relay = "r:1"; } ];
          };
        }).config.networking.firewall.allowedTCPPorts;
        assertions = messages c;
      }
    )
    {
      default = [ ];
      firewall = [ ];
      assertions = [ ];
    }
  )
]

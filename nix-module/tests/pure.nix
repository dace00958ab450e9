# Tests of the plain Nix functions (no nixpkgs): a list of { name, ok, got, expected }, with those of
# ./build-lock-tests.nix and ./flake-tests.nix. Run by ./run.sh (nix-instantiate --eval --strict
# --json) and by the flake's checks.nix-module.
let
  agentConfig = import ../agent-config.nix;
  rosLib = import ../ros-lib.nix;
  operator = import ../vm/operator.nix;
  vmSettings = import ../vm/agent-settings.nix { inherit (operator) trustedPublicKeys; };

  # nix-module/agent.nix with a stand-in lib: mkOption keeps its declaration, types.submodule its
  # options, so the settings' option defaults can be read and the module's assertions evaluated.
  agentModule = settings: agentModuleWith { inherit settings; };
  # `service`: the values of services.ros-rollback-agent (the module system's job, here by hand).
  agentModuleWith =
    service:
    import ../agent.nix {
      config.services.ros-rollback-agent = {
        enable = true;
        dataDeclared = [ ];
      }
      // service;
      lib = {
        mkOption = decl: decl // { _type = "option"; };
        mkIf = cond: value: if cond then value else { };
        mkDefault = v: v;
        types.submodule = m: m;
        # What the module's tmpfiles rules use.
        optional = cond: x: if cond then [ x ] else [ ];
        hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
        unique = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];
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
      holds = {
        dir = "/run/ros-rollback/holds";
        conditions = [ ];
      };
      gc.keepGenerations = 5;
    }
  )

  (test "render leaves the default tls paths out when insecure (the agent refuses both)"
    (
      (agentConfig.render {
        trustedPublicKeys = [ key ];
        listen = "127.0.0.1:50051";
        insecure = true;
      }) ? tls
    )
    false
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

  (test "errors: substituters must be caches the agent can ask (http(s)://, file:///)"
    (agentConfig.errors {
      trustedPublicKeys = [ key ];
      substituters = [
        "http://10.0.0.2:8080"
        "file:///srv/cache"
        "ssh://robot"
      ];
    })
    [ "substituters: \"ssh://robot\" is not an http(s):// or file:/// cache URL" ]
  )

  (test "errors: hold conditions that would hold the robot for good, and a hold dir tmpfiles cannot make"
    (agentConfig.errors {
      trustedPublicKeys = [ key ];
      holds = {
        dir = "/run/my holds";
        conditions = [
          {
            kind = "topic";
            topic = "/mission_state";
            releasedWhen = [ ];
          }
          {
            kind = "unit";
            unit = "mission.service";
          }
        ];
      };
    })
    [
      "holds.dir: \"/run/my holds\" must be an absolute path on the robot, without spaces, outside the Nix store"
      "holds.conditions: topic /mission_state has no releasedWhen, so it never releases"
      "holds.conditions: topic conditions are read through health.ros, which is not set: the robot would stay held"
    ]
  )

  (test "errors: none for a topic condition read through health.ros, or a unit condition alone"
    [
      (agentConfig.errors {
        trustedPublicKeys = [ key ];
        health.ros.masterUri = "http://127.0.0.1:11311";
        holds.conditions = [
          {
            kind = "topic";
            topic = "/mission_state";
            releasedWhen = [ "idle" ];
          }
        ];
      })
      (agentConfig.errors {
        trustedPublicKeys = [ key ];
        holds.conditions = [
          {
            kind = "unit";
            unit = "mission.service";
          }
        ];
        holds.dir = "/var/lib/holds";
      })
    ]
    [
      [ ]
      [ ]
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

  (test "module: settings.access defaults to null (every certificate may do all; the agent warns), and a rule's unset fields are left out"
    (evaluated {
      default = settingsOptions.access.default or "none";
      rendered =
        (agentConfig.render {
          access.rules = [
            {
              cn = null;
              o = "fleet";
              ou = null;
              uri = null;
              fingerprint = null;
              roles = [ "read" ];
            }
          ];
        }).access;
    })
    {
      default = null;
      rendered.rules = [
        {
          o = "fleet";
          roles = [ "read" ];
        }
      ];
    }
  )

  (test "module: tmpfiles makes the hold dir (d, never emptied by a switch or an agent restart), sticky, for the hold group, which exists and the agent is in"
    (
      let
        m = agentModuleWith {
          settings = agentConfig.merge (optionDefaults settingsOptions) { trustedPublicKeys = [ key ]; };
          holdGroup = (agentModule { }).options.services.ros-rollback-agent.holdGroup.default;
        };
      in
      evaluated {
        dirDefault = settingsOptions.holds.dir.default;
        conditionsDefault = settingsOptions.holds.conditions.default;
        rules = m.config.systemd.tmpfiles.rules;
        groups = builtins.attrNames m.config.users.groups;
        agentGroups = m.config.systemd.services.ros-rollback-agent.serviceConfig.SupplementaryGroups;
      }
    )
    {
      dirDefault = "/run/ros-rollback/holds";
      conditionsDefault = [ ];
      rules = [
        "d /etc/ros-rollback/tls 0700 root root - -"
        "d /run/ros-rollback/holds 1770 root ros-rollback-hold - -"
      ];
      groups = [ "ros-rollback-hold" ];
      agentGroups = [ "ros-rollback-hold" ];
    }
  )

  (test "module: the hold dir and group follow settings.holds.dir and holdGroup"
    (
      let
        settings = agentConfig.merge (optionDefaults settingsOptions) {
          trustedPublicKeys = [ key ];
          holds.dir = "/var/lib/robot/holds";
        };
        m = agentModuleWith {
          inherit settings;
          holdGroup = "mission";
        };
      in
      evaluated {
        rule = builtins.elemAt m.config.systemd.tmpfiles.rules 1;
        groups = builtins.attrNames m.config.users.groups;
        # The agent reads the same directory.
        agentDir = (agentConfig.render settings).holds.dir;
      }
    )
    {
      rule = "d /var/lib/robot/holds 1770 root mission - -";
      groups = [ "mission" ];
      agentDir = "/var/lib/robot/holds";
    }
  )

  (test "module: the bootloader keeps the policy's generations plus the booted and previous ones, unless gc is off"
    (
      let
        loader =
          over:
          (agentModuleWith {
            settings = agentConfig.merge (optionDefaults settingsOptions) ({ trustedPublicKeys = [ key ]; } // over);
          }).config.boot.loader;
      in
      evaluated {
        keepDefault = settingsOptions.gc.keepGenerations.default;
        byDefault = loader { };
        keep3 = (loader { gc.keepGenerations = 3; }).systemd-boot.configurationLimit;
        off = loader { gc.enabled = false; };
        agentReads = (agentConfig.render { gc.keepGenerations = 3; }).gc;
      }
    )
    {
      keepDefault = 5;
      byDefault = {
        systemd-boot.configurationLimit = 7;
        grub.configurationLimit = 7;
        generic-extlinux-compatible.configurationLimit = 7;
      };
      keep3 = 5;
      off = { };
      agentReads = {
        keepGenerations = 3;
      };
    }
  )
]
++ import ./data-tests.nix {
  inherit
    agentConfig
    agentModuleWith
    optionDefaults
    settingsOptions
    evaluated
    key
    test
    ;
}
++ import ./relay-tests.nix {
  inherit
    agentConfig
    agentModuleWith
    optionDefaults
    settingsOptions
    evaluated
    key
    test
    ;
}
++ import ./build-lock-tests.nix
++ import ./flake-tests.nix
++ import ./boot-counting-tests.nix {
  inherit
    agentConfig
    key
    test
    ;
}

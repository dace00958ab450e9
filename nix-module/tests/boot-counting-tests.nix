# ../boot-counting.nix evaluated without nixpkgs, against a nixpkgs with and without its own
# `boot.loader.systemd-boot.bootCounting` option: part of ./pure.nix.
{
  agentConfig,
  test,
  key,
}:
let
  # What the module system does with mkIf/mkMerge, for attribute sets of plain values.
  merge =
    a: b:
    a
    // builtins.mapAttrs (
      n: v:
      if builtins.isAttrs v && builtins.isAttrs (a.${n} or null) then
        merge a.${n} v
      else if builtins.isList v && builtins.isList (a.${n} or null) then
        a.${n} ++ v
      else
        v
    ) b;
  lib = {
    mkOption = decl: decl // { _type = "option"; };
    mkEnableOption = _: {
      _type = "option";
      default = false;
    };
    mkIf = cond: value: if cond then value else { };
    mkMerge = builtins.foldl' merge { };
    types.ints.between = lo: hi: "int ${toString lo}..${toString hi}";
    types.ints.positive = "positive int";
  };

  # `upstream`: nixpkgs' systemd-boot.bootCounting option declarations, or null where nixpkgs has none.
  moduleWith =
    {
      bootCounting,
      upstream ? null,
      systemd-boot ? {
        enable = true;
        xbootldrMountPoint = null;
      },
      efiSysMountPoint ? "/boot",
      enable ? true,
    }:
    import ../boot-counting.nix {
      config = {
        services.ros-rollback-agent = {
          inherit enable;
          bootCounting = {
            tries = 3;
            watchdogSeconds = 300;
          }
          // bootCounting;
        };
        boot.loader = {
          inherit systemd-boot;
          efi = { inherit efiSysMountPoint; };
        };
      };
      options.boot.loader.systemd-boot =
        { enable = lib.mkOption { }; }
        // (if upstream == null then { } else { bootCounting = upstream; });
      inherit lib;
      pkgs.runtimeShell = "/nix/store/bash/bin/sh";
    };
  on = {
    enable = true;
  };
  nixpkgsOption = {
    enable = lib.mkOption { };
    tries = lib.mkOption { };
  };
  verdictUnit = m: m.config.systemd.services.ros-rollback-boot-verdict;

  inherit (import ./boot-verdict-unit.nix) contractUnit moduleUnit;
in
[
  (test "boot counting: options default to 3 tries, a 300 s watchdog, off" (
    let
      o = (moduleWith { bootCounting = { }; }).options.services.ros-rollback-agent.bootCounting;
    in
    [
      o.enable.default
      o.tries.default
      o.watchdogSeconds.default
    ]
  ) [ false 3 300 ])

  (test "boot counting: off (or the agent off) changes nothing" [
    (moduleWith { bootCounting.enable = false; }).config
    (moduleWith {
      bootCounting = on;
      enable = false;
    }).config
  ] [ { } { } ])

  (test "boot counting: the verdict unit gates boot-complete.target and runs the packaged script with the watchdog"
    (
      let
        u = verdictUnit (moduleWith {
          bootCounting = on // {
            watchdogSeconds = 120;
          };
        });
      in
      {
        inherit (u)
          after
          before
          requiredBy
          restartIfChanged
          unitConfig
          ;
        inherit (u.serviceConfig) Type RemainAfterExit TimeoutStartSec;
        exec = builtins.match "/nix/store/bash/bin/sh /nix/store/[a-z0-9]{32}-boot-verdict\\.sh 120" u.serviceConfig.ExecStart != null;
      }
    )
    {
      after = [ "local-fs.target" ];
      before = [ "boot-complete.target" ];
      requiredBy = [ "boot-complete.target" ];
      restartIfChanged = false;
      unitConfig.DefaultDependencies = false;
      Type = "oneshot";
      RemainAfterExit = true;
      TimeoutStartSec = "infinity";
      exec = true;
    }
  )

  (test "boot counting: the verdict unit has the directives of agent/boot/README.md's unit, and no others"
    (
      let
        got = moduleUnit (verdictUnit (moduleWith { bootCounting = on; }));
      in
      {
        missing = builtins.filter (l: !(builtins.elem l got)) contractUnit;
        extra = builtins.filter (l: !(builtins.elem l contractUnit)) got;
        contract = builtins.length contractUnit;
      }
    )
    {
      missing = [ ];
      extra = [ ];
      contract = 8;
    }
  )

  (test "boot counting: the agent's config gets boot = { counting, esp, tries }, rendered into its JSON, and may write the ESP"
    (
      let
        c = (moduleWith { bootCounting = on; }).config;
      in
      {
        boot = (agentConfig.render (c.services.ros-rollback-agent.settings // { trustedPublicKeys = [ key ]; })).boot;
        ReadWritePaths = c.systemd.services.ros-rollback-agent.serviceConfig.ReadWritePaths or null;
      }
    )
    {
      boot = {
        counting = true;
        esp = "/boot";
        tries = 3;
      };
      ReadWritePaths = [ "/boot" ];
    }
  )

  (test "boot counting: esp is where the installer writes loader/entries (efiSysMountPoint, or XBOOTLDR)"
    (map (m: m.config.services.ros-rollback-agent.settings.boot.esp) [
      (moduleWith {
        bootCounting = on;
        efiSysMountPoint = "/efi";
      })
      (moduleWith {
        bootCounting = on;
        efiSysMountPoint = "/efi";
        systemd-boot = {
          enable = true;
          xbootldrMountPoint = "/boot";
        };
      })
    ])
    [
      "/efi"
      "/boot"
    ]
  )

  (test "boot counting: an assertion names systemd-boot when it is not the boot loader"
    (map (m: m.config.assertions) [
      (moduleWith {
        bootCounting = on;
        systemd-boot = {
          enable = false;
          xbootldrMountPoint = null;
        };
      })
      (moduleWith { bootCounting = on; })
    ])
    [
      [
        {
          assertion = false;
          message = "services.ros-rollback-agent.bootCounting needs systemd-boot as the boot loader (boot.loader.systemd-boot.enable = true): only its loader entries count tries";
        }
      ]
      [
        {
          assertion = true;
          message = "services.ros-rollback-agent.bootCounting needs systemd-boot as the boot loader (boot.loader.systemd-boot.enable = true): only its loader entries count tries";
        }
      ]
    ]
  )

  (test "boot counting: a nixpkgs without the option (nixos-25.05) gets the upstream units, and no definition of the missing option"
    (
      let
        c = (moduleWith { bootCounting = on; }).config;
      in
      {
        units = c.systemd.additionalUpstreamSystemUnits or null;
        option = c.boot or null;
      }
    )
    {
      units = [
        "boot-complete.target"
        "systemd-bless-boot.service"
      ];
      option = null;
    }
  )

  (test "boot counting: a nixpkgs with the option gets it on, with our tries (`tries`, or `trials` of the reverted versions)"
    (map
      (
        upstream:
        let
          c =
            (moduleWith {
              bootCounting = on // {
                tries = 2;
              };
              inherit upstream;
            }).config;
        in
        {
          option = c.boot.loader.systemd-boot.bootCounting;
          units = c.systemd.additionalUpstreamSystemUnits or null;
        }
      )
      [
        nixpkgsOption
        {
          enable = lib.mkOption { };
          trials = lib.mkOption { };
        }
      ]
    )
    [
      {
        option = {
          enable = true;
          tries = 2;
        };
        units = null;
      }
      {
        option = {
          enable = true;
          trials = 2;
        };
        units = null;
      }
    ]
  )
]

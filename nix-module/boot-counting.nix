# services.ros-rollback-agent.bootCounting: systemd-boot's boot counting, with the agent's verdict as
# the only thing that blesses a counted boot (agent/boot/README.md is the contract). Imported by
# ./agent.nix; evaluated without nixpkgs by ./tests/boot-counting-tests.nix.
#
# nixpkgs' own `boot.loader.systemd-boot.bootCounting` exists only in some nixpkgs (reinstated by
# NixOS/nixpkgs#447173, after nixos-25.05): it is set where it exists and left alone where not, so
# this module evaluates on both. Where it is absent (the pinned nixos-25.05), nixpkgs' installer
# writes entries without a counter: the agent gives the new entry of a deployment judged after a
# boot its `+TRIES` itself (config boot.tries), so that boot counts and the gate below waits.
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.services.ros-rollback-agent;
  bc = cfg.bootCounting;
  loader = config.boot.loader;
  # Where nixpkgs' systemd-boot installer writes loader/entries: XBOOTLDR when there is one.
  esp =
    if (loader.systemd-boot.xbootldrMountPoint or null) != null then
      loader.systemd-boot.xbootldrMountPoint
    else
      loader.efi.efiSysMountPoint;
  # Read from the declarations only, so this never depends on the config it decides.
  upstream = options.boot.loader.systemd-boot.bootCounting or null;
  # #447173 calls the count `tries`; the reverted #273062/#330017 called it `trials`.
  upstreamTries = if upstream ? trials && !(upstream ? tries) then "trials" else "tries";
in
{
  options.services.ros-rollback-agent.bootCounting = {
    enable = lib.mkEnableOption ''
      boot counting gated on the agent's verdict: a new generation's systemd-boot entry gets `tries`
      boots; a boot is blessed only when the agent judged it healthy and the controller confirmed it,
      and once the tries are spent the loader boots the previous generation (needs systemd-boot)
    '';
    tries = mkOption {
      type = types.ints.between 1 9;
      default = 3;
      description = ''
        Boots a new generation's entry gets before the loader gives up on it (systemd-boot counts
        each boot of the entry, `+LEFT-DONE`). Passed to nixpkgs' `boot.loader.systemd-boot.bootCounting`
        where that option exists.
      '';
    };
    watchdogSeconds = mkOption {
      type = types.ints.positive;
      default = 300;
      description = ''
        Seconds from early boot (after local-fs.target) until the agent must have taken this boot up
        (`/run/ros-rollback/boot/judging`); past it, ros-rollback-boot-verdict.service reboots and the
        boot was a failed try. It bounds a hang before the agent runs (network-online, nix-daemon, the
        agent's start), not the health window or the wait for Confirm. Only counted boots wait.
      '';
    };
  };

  config = lib.mkIf (cfg.enable && bc.enable) (
    lib.mkMerge [
      {
        assertions = [
          {
            assertion = loader.systemd-boot.enable or false;
            message = "services.ros-rollback-agent.bootCounting needs systemd-boot as the boot loader (boot.loader.systemd-boot.enable = true): only its loader entries count tries";
          }
        ];

        # tries: what the agent gives a new entry an installer wrote without a counter (25.05's).
        services.ros-rollback-agent.settings.boot = {
          counting = true;
          inherit esp;
          inherit (bc) tries;
        };

        # ProtectSystem=full makes /boot read-only to the agent; it renames the entry of a bad boot.
        systemd.services.ros-rollback-agent.serviceConfig.ReadWritePaths = [ esp ];

        # The unit of agent/boot/README.md: boot-complete.target (and so systemd-bless-boot) waits
        # for the agent's verdict. Only systemd-bless-boot.service pulls the target in, and its
        # generator adds that only on a counted boot, so an ordinary boot never waits here.
        systemd.services.ros-rollback-boot-verdict = {
          description = "Wait for the ros-rollback agent's verdict on this boot";
          unitConfig.DefaultDependencies = false;
          after = [ "local-fs.target" ];
          before = [ "boot-complete.target" ];
          requiredBy = [ "boot-complete.target" ];
          # A switch must not restart it: that would judge a boot already judged, or reboot.
          restartIfChanged = false;
          serviceConfig = {
            Type = "oneshot";
            RemainAfterExit = true;
            TimeoutStartSec = "infinity";
            ExecStart = "${pkgs.runtimeShell} ${../agent/boot/boot-verdict.sh} ${toString bc.watchdogSeconds}";
          };
        };
      }
      (
        if upstream != null then
          {
            boot.loader.systemd-boot.bootCounting = {
              enable = true;
              ${upstreamTries} = bc.tries;
            };
          }
        else
          {
            # nixos-25.05 installs neither unit (NixOS/nixpkgs#436893 added them later); systemd's
            # own generator pulls systemd-bless-boot.service in on a counted boot.
            systemd.additionalUpstreamSystemUnits = [
              "boot-complete.target"
              "systemd-bless-boot.service"
            ];
          }
      )
    ]
  );
}

# The demo robot: user robotix, sshd, a ROS master with rospy_tutorials' talker and listener, and the
# agent with health checks for those units and /chatter. Hardware comes from qemu.nix,
# virtualbox.nix, or the VM test. `robotix.variant` picks what a deployment changes:
#   base    talker / listener (std_msgs/String on /chatter)
#   header  talker_header.py / listener_header.py (rospy_tutorials/HeaderString), remapped to /chatter
#   broken  sshd off and the agent's port closed in the firewall: the controller cannot confirm over
#           a new connection, so the agent rolls back when the confirm deadline passes ("magic rollback")
{
  config,
  lib,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.robotix;
  operator = import ./operator.nix;
  header = cfg.variant == "header";
in
{
  options.robotix = {
    variant = mkOption {
      type = types.enum [
        "base"
        "header"
        "broken"
      ];
      default = "base";
      description = "Which demo system this is (see the file's header).";
    };
    authorizedKeys = mkOption {
      type = types.listOf types.str;
      default = operator.authorizedKeys;
      description = "SSH public keys of the user robotix.";
    };
    trustedPublicKeys = mkOption {
      type = types.listOf types.str;
      default = operator.trustedPublicKeys;
      description = "Nix public keys the agent trusts.";
    };
  };

  config = {
    system.stateVersion = "25.05";
    system.nixos.tags = [ "robotix-${cfg.variant}" ];

    users.users.robotix = {
      isNormalUser = true;
      extraGroups = [ "wheel" ];
      initialPassword = "robot";
      openssh.authorizedKeys.keys = cfg.authorizedKeys;
    };
    security.sudo.wheelNeedsPassword = false;

    services.openssh.enable = cfg.variant != "broken";

    nix.settings.experimental-features = [
      "nix-command"
      "flakes"
    ];

    services.ros-robot = {
      enable = true;
      nodes = {
        talker = {
          package = "rospy_tutorials";
          node = if header then "talker_header.py" else "talker";
          # talker_header.py publishes on chatter_header: keep the one topic the agent watches.
          remap = lib.optionalAttrs header { chatter_header = "chatter"; };
        };
        listener = {
          package = "rospy_tutorials";
          node = if header then "listener_header.py" else "listener";
          remap = lib.optionalAttrs header { chatter_header = "chatter"; };
        };
      };
    };

    services.ros-rollback-agent = {
      enable = true;
      openFirewall = cfg.variant != "broken";
      settings = import ./agent-settings.nix {
        inherit (cfg) trustedPublicKeys;
        inherit (config.services.ros-robot) units;
      };
    };
  };
}

# nixosModules.ros: a ROS 1 master and nodes as systemd units (talker/listener style: a ROS package
# and a node name per unit), on top of nix-ros-overlay's `services.ros` (roscore.service and one
# `<name>.service` per node, run with rosrun as user `ros`). What this adds: remappings and private
# parameters per node, a restart policy, a loopback master by default, the tools on PATH, and the
# list of units (`services.ros-robot.units`) for health checks.
#
# Import together with nix-ros-overlay.nixosModules.default (the flake's nixosModules.ros does).
{
  config,
  lib,
  ...
}:
let
  inherit (lib)
    mkEnableOption
    mkIf
    mkOption
    types
    ;
  cfg = config.services.ros-robot;
  rosLib = import ./ros-lib.nix;

  nodeType = types.submodule {
    options = {
      package = mkOption {
        type = types.str;
        example = "rospy_tutorials";
        description = "ROS package name (with underscores) that contains the node.";
      };
      node = mkOption {
        type = types.str;
        example = "talker";
        description = "Executable within the package, as given to rosrun (e.g. `talker`, `talker_header.py`).";
      };
      remap = mkOption {
        type = types.attrsOf types.str;
        default = { };
        example = {
          chatter_header = "chatter";
        };
        description = "Topic and name remappings, passed as `from:=to`.";
      };
      params = mkOption {
        type = types.attrsOf types.str;
        default = { };
        example = {
          rate = "10";
        };
        description = "Private parameters, passed as `_name:=value`.";
      };
      args = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Further command-line arguments for the node.";
      };
      restart = mkOption {
        type = types.enum [
          "no"
          "on-failure"
          "always"
        ];
        default = "on-failure";
        description = ''
          systemd's `Restart=` for the node. The agent's unit health check counts restarts during its
          window, so a crashing node makes a deployment unhealthy either way.
        '';
      };
    };
  };
in
{
  options.services.ros-robot = {
    enable = mkEnableOption "a ROS 1 master and nodes as systemd units";

    distro = mkOption {
      type = types.str;
      default = "noetic";
      description = "ROS distribution from nix-ros-overlay (ROS 1: noetic, on its ros1-25.05 branch).";
    };

    hostname = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = ''
        ROS_HOSTNAME of the master and the nodes. The default keeps the whole graph on loopback (a
        single-machine robot); set the robot's address for nodes on other machines.
      '';
    };

    masterPort = mkOption {
      type = types.port;
      default = 11311;
      description = "Port of the ROS master (roscore).";
    };

    tools = mkOption {
      type = types.bool;
      default = true;
      description = "Put rosrun, rostopic, rosnode and roslaunch on the system PATH.";
    };

    nodes = mkOption {
      type = types.attrsOf nodeType;
      default = { };
      example = {
        talker = {
          package = "rospy_tutorials";
          node = "talker";
        };
        listener = {
          package = "rospy_tutorials";
          node = "listener";
        };
      };
      description = "Nodes to run, each as `<name>.service` (ordered after roscore.service).";
    };

    units = mkOption {
      type = types.listOf types.str;
      readOnly = true;
      default = rosLib.units cfg.nodes;
      defaultText = lib.literalExpression ''[ "roscore.service" ] ++ one "<name>.service" per node'';
      description = "The systemd units of the master and the nodes (for the agent's health checks).";
    };

    masterUri = mkOption {
      type = types.str;
      readOnly = true;
      default = rosLib.masterUri cfg.hostname cfg.masterPort;
      defaultText = lib.literalExpression ''"http://''${hostname}:''${toString masterPort}/"'';
      description = "ROS_MASTER_URI of this robot.";
    };
  };

  config = mkIf cfg.enable {
    services.ros = {
      enable = true;
      inherit (cfg) distro hostname masterUri;
      core.port = cfg.masterPort;
      systemPackages =
        p:
        lib.optionals cfg.tools [
          p.rosbash
          p.rostopic
          p.rosnode
          p.roslaunch
        ];
      nodes = lib.mapAttrs (_name: n: {
        inherit (n) package node;
        args = rosLib.nodeArgs n;
      }) cfg.nodes;
    };

    systemd.services = {
      roscore.serviceConfig = {
        Restart = "on-failure";
        RestartSec = 2;
      };
    }
    // lib.mapAttrs (_name: n: {
      serviceConfig = {
        Restart = n.restart;
        RestartSec = 2;
      };
    }) cfg.nodes;
  };
}

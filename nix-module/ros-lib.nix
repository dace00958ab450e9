# Plain Nix helpers for the ROS module (no nixpkgs): testable with nix-instantiate alone.
let
  mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (builtins.attrNames attrs);
in
{
  # Command-line arguments of a node: remappings (`from:=to`), private parameters (`_name:=value`),
  # then the extra arguments, in that order (rosrun passes them on; rospy and roscpp read both forms).
  nodeArgs =
    node:
    mapAttrsToList (from: to: "${from}:=${to}") (node.remap or { })
    ++ mapAttrsToList (name: value: "_${name}:=${value}") (node.params or { })
    ++ (node.args or [ ]);

  # The systemd units a robot's health depends on: the master and every node.
  units = nodes: [ "roscore.service" ] ++ map (name: "${name}.service") (builtins.attrNames nodes);

  masterUri = hostname: port: "http://${hostname}:${toString port}/";
}

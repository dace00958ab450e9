# checks.x86_64-linux.vm-test: two VMs, a controller and a robot (the demo robot of nix-module/vm
# with the agent, roscore, talker and listener). The controller deploys the header variant (healthy,
# confirmed over a new connection), then the header variant with a changed agent config (kept; the
# agent restarts itself afterwards), then the broken one (agent port closed: no Confirm possible, so
# the agent rolls back at the confirm deadline), and checks the outcomes on each side. Run: nix build .#checks.x86_64-linux.vm-test -L (needs KVM).
#
# The systems the controller deploys are evaluated from the same modules as the robot node plus
# nixos-test-base (qemu-vm and the test driver's backdoor) and the node's network config, as
# deploy-rs' own VM tests do: a switch then keeps the VM's disks, network and the driver's
# connection. They are NOT in the robot's store beforehand (only in the controller's, through
# additionalPaths), so the agent really receives the paths that differ.
{
  nixpkgs,
  pkgs,
  modules,
}:
let
  inherit (pkgs) lib;

  pki = pkgs.runCommand "ros-rollback-test-pki" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    bash ${../../nix/demo-pki.sh} $out robot
  '';
  snakeoil = ./snakeoil;

  # What the robot node and every deployed variant share (so unchanged units stay unchanged).
  robotCommon = {
    imports = modules ++ [ ../vm/robot.nix ];
    # Tests leave switch-to-configuration out by default; the agent needs it in every generation
    # (the new one to switch, the old one to roll back).
    system.switch.enable = true;
    virtualisation.memorySize = 2048;
    virtualisation.cores = 2;
    virtualisation.writableStore = true;
    environment.systemPackages = [ pkgs.curl ];
  };

  variant =
    nodes: name: extra:
    (nixpkgs.lib.nixosSystem {
      modules = [
        robotCommon
        (nixpkgs + "/nixos/lib/testing/nixos-test-base.nix")
        nodes.robot.system.build.networkConfig
        {
          # As the test framework sets it for its nodes (nixos/lib/testing/nodes.nix).
          nixpkgs.system = "x86_64-linux";
          robotix.variant = name;
        }
      ]
      ++ extra;
    }).config.system.build.toplevel;

  # The header system with a changed agent config: a changed agent unit, which the switch leaves
  # running (restartIfChanged = false) and the agent restarts once the deployment is kept.
  agentChanged = nodes: variant nodes "header" [ { services.ros-rollback-agent.settings.logLevel = "debug"; } ];
in
nixpkgs.lib.nixos.runTest {
  name = "ros-rollback";
  # Nodes evaluate nixpkgs themselves (no node.pkgs): nix-ros-overlay's module adds its overlay.
  hostPkgs = pkgs;

  nodes = {
    robot = robotCommon;

    controller =
      { nodes, ... }:
      {
        environment.systemPackages = [ pkgs.ros-rollback ];
        # Registered in the controller's Nix database, so `nix path-info -r` finds the closures.
        virtualisation.additionalPaths = [
          (variant nodes "header" [ ])
          (agentChanged nodes)
          (variant nodes "broken" [ ])
        ];
        virtualisation.memorySize = 1024;
      };
  };

  testScript =
    { nodes, ... }:
    let
      header = variant nodes "header" [ ];
      changed = agentChanged nodes;
      broken = variant nodes "broken" [ ];
      inventory = pkgs.writeText "inventory.json" (
        builtins.toJSON {
          targets.robot = {
            address = "robot:50051";
            caFile = "${pki}/ca.pem";
            certFile = "${pki}/controller.pem";
            keyFile = "${pki}/controller.key";
          };
        }
      );
      rr = "ros-rollback --inventory ${inventory} --target robot";
      deploy = path: "${rr} deploy ${path} --sign-key ${snakeoil}/signing.sec --json";
    in
    ''
      import json

      start_all()

      with subtest("the operator puts the agent's TLS files in place; the agent starts"):
          robot.wait_for_unit("multi-user.target")
          robot.succeed(
              "install -m 0644 ${pki}/ca.pem ${pki}/agent.pem /etc/ros-rollback/tls/",
              "install -m 0400 ${pki}/agent.key /etc/ros-rollback/tls/agent.key",
              # An installed NixOS has its system profile; a test VM boots without one.
              "nix-env -p /nix/var/nix/profiles/system --set $(readlink -f /run/current-system)",
          )
          robot.wait_for_unit("ros-rollback-agent.service")
          robot.wait_for_open_port(50051)
          robot.wait_for_unit("talker.service")
          robot.wait_until_succeeds(
              "ROS_MASTER_URI=http://127.0.0.1:11311 timeout 10 rostopic echo -n 1 /chatter", timeout=120
          )
          base = robot.succeed("readlink -f /run/current-system").strip()

      with subtest("the controller reaches the agent"):
          controller.wait_for_unit("multi-user.target")
          controller.wait_until_succeeds("${rr} status", timeout=60)

      with subtest("the hold group's software holds the robot with a file, which outlives an agent restart"):
          robot.succeed("stat -c '%a %U %G' /run/ros-rollback/holds | grep -qx '1770 root ros-rollback-hold'")
          robot.succeed(
              "setpriv --reuid=nobody --regid=nogroup --groups=ros-rollback-hold"
              + " sh -c 'umask 022; echo docking > /run/ros-rollback/holds/mission'"
          )
          # Not in the group: cannot hold the robot.
          robot.fail("setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c 'echo x > /run/ros-rollback/holds/x'")
          robot.succeed("systemctl restart ros-rollback-agent.service")
          robot.wait_for_open_port(50051)
          controller.wait_until_succeeds("${rr} status", timeout=60)
          holds = json.loads(controller.succeed("${rr} status --json"))["holds"]
          assert [(h["name"], h["reason"]) for h in holds] == [("mission", "docking")], holds
          # broken: its later deploy does not count pushed paths (this one pushes before it is refused).
          rc, _ = controller.execute("${deploy broken}", timeout=300)
          assert rc == 1, rc
          robot.succeed(f"test $(readlink -f /run/current-system) = {base}")
          robot.succeed("rm /run/ros-rollback/holds/mission")

      with subtest("deploy the header variant: healthy, confirmed"):
          pid = robot.succeed("systemctl show -p MainPID --value ros-rollback-agent.service").strip()
          out = json.loads(controller.succeed("${deploy header}"))
          assert out["outcome"] == "succeeded", out
          assert out["confirmed"] is True, out
          assert out["push"]["pathsImported"] > 0, out["push"]
          robot.succeed("test $(readlink -f /run/current-system) = ${header}")
          robot.wait_until_succeeds(
              "ROS_MASTER_URI=http://127.0.0.1:11311 rostopic type /chatter | grep -x rospy_tutorials/HeaderString",
              timeout=60,
          )
          # The agent's unit did not change: the same process judged, confirmed and still runs.
          robot.succeed(f"test $(systemctl show -p MainPID --value ros-rollback-agent.service) = {pid}")

      with subtest("a kept deployment that changes the agent's unit: the agent restarts itself afterwards"):
          pid = robot.succeed("systemctl show -p MainPID --value ros-rollback-agent.service").strip()
          out = json.loads(controller.succeed("${deploy changed}"))
          assert out["outcome"] == "succeeded", out
          robot.wait_until_succeeds(
              f"test $(systemctl show -p MainPID --value ros-rollback-agent.service) != {pid}", timeout=60
          )
          robot.wait_for_open_port(50051)
          # The new agent runs with the new config: logLevel debug shows its debug lines.
          robot.wait_until_succeeds(
              "journalctl -u ros-rollback-agent.service -o cat | grep -q 'agent unit file at start'", timeout=30
          )
          controller.wait_until_succeeds("${rr} status", timeout=60)

      with subtest("deploy the broken variant: no Confirm possible, magic rollback"):
          rc, stdout = controller.execute("${deploy broken}", timeout=600)
          out = json.loads(stdout)
          assert rc == 2, (rc, out)
          assert out["outcome"] == "rolled-back", out
          assert out["rollbackReason"] == "not-confirmed", out
          robot.succeed("test $(readlink -f /run/current-system) = ${changed}")
          robot.wait_for_unit("sshd.service")
          controller.wait_until_succeeds("${rr} status", timeout=60)
          # The failed generation is gone from the profile (so it is not the boot default).
          robot.fail("readlink -f /nix/var/nix/profiles/system-*-link | grep -xF ${broken}")

      with subtest("metrics tell the story"):
          # Counted since the agent's restart: the broken deployment only.
          metrics = robot.succeed("curl -sf http://127.0.0.1:9464/metrics")
          assert 'ros_rollback_deployments_total{outcome="rolled_back"} 1' in metrics, metrics
          assert 'ros_rollback_rollbacks_total{reason="not_confirmed"} 1' in metrics, metrics
          assert "ros_rollback_generation_confirmed 1" in metrics, metrics

      with subtest("generations: base, header, header with the changed agent (current)"):
          gens = json.loads(controller.succeed("${rr} generations --json"))
          assert [g["storePath"] for g in gens] == [base, "${header}", "${changed}"], gens
          assert gens[-1]["current"] is True, gens
    '';
}

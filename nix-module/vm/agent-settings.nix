# The agent settings of the demo robot VMs: the same for every variant (base, header, broken), so
# deploying a variant never changes the agent's unit. Plain Nix (no nixpkgs): the vitest test
# integration-tests/lab/nix-module.test.ts renders it with ../agent-config.nix and validates the
# result with the agent's own schema.
{
  trustedPublicKeys,
  # The master's and the nodes' units (services.ros-robot.units).
  units ? [
    "listener.service"
    "roscore.service"
    "talker.service"
  ],
}:
{
  listen = "0.0.0.0:50051";
  inherit trustedPublicKeys;
  # Time for a person to watch; the controller confirms within seconds.
  confirmTimeoutSeconds = 60;
  health = {
    # rospy nodes take a few seconds to start on a small VM.
    settleSeconds = 10;
    stableSeconds = 15;
    timeoutSeconds = 120;
    intervalSeconds = 2;
    systemd.units = map (name: { inherit name; }) units;
    ros = {
      masterUri = "http://127.0.0.1:11311";
      rateWindowSeconds = 5;
      # rospy_tutorials' talker publishes at 10 Hz (talker_header.py too, remapped to /chatter).
      topics = [
        {
          name = "/chatter";
          maxSilenceSeconds = 5;
          minRateHz = 5;
        }
      ];
    };
  };
}

# The lab's fixture systems: name -> system closure. Add a variant with one mkSystem line.
let
  lab = import ./lib.nix;
  inherit (lab) mkSystem roscore node oneshot;
  ip = "/usr/sbin/ip";
in {
  talker = mkSystem "talker" [ roscore (node "talker" "talker.py" { }) (node "listener" "listener.py" { }) ];

  talker-header = mkSystem "talker-header" [
    roscore
    (node "talker" "talker.py --header" { })
    (node "listener" "listener.py --header" { })
  ];

  crashing-talker = mkSystem "crashing-talker" [
    roscore
    (node "talker" "talker.py --crash-after 1" { restart = "no"; })
    (node "listener" "listener.py" { })
  ];

  silent-talker = mkSystem "silent-talker" [
    roscore
    (node "talker" "talker.py --silent" { })
    (node "listener" "listener.py" { })
  ];

  no-network = mkSystem "no-network" [
    roscore
    (node "talker" "talker.py" { })
    (node "listener" "listener.py" { })
    (oneshot "cut-network" "${ip} link set eth0 down" "${ip} link set eth0 up")
  ];

  # Same closure on every robot of a fleet; the talker falls silent on the robots where the lab
  # set the fail flag (labFail): /var/lib/ros-rollback-lab-fail, empty or holding the system's name.
  flag-talker = mkSystem "flag-talker" [
    roscore
    (node "talker" "talker.py --fail-flag flag-talker" { })
    (node "listener" "listener.py" { })
  ];

  flag-talker-header = mkSystem "flag-talker-header" [
    roscore
    (node "talker" "talker.py --header --fail-flag flag-talker-header" { })
    (node "listener" "listener.py --header" { })
  ];
}

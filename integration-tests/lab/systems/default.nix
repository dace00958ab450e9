# The lab's fixture systems: name -> system closure. Add a variant with one mkSystem line.
let
  lab = import ./lib.nix;
  inherit (lab) mkSystem roscore node oneshot payload;
  ip = "/usr/sbin/ip";
in {
  talker = mkSystem "talker" [ roscore (node "talker" "talker.py" { }) (node "listener" "listener.py" { }) ];

  talker-header = mkSystem "talker-header" [
    roscore
    (node "talker" "talker.py --header" { })
    (node "listener" "listener.py --header" { })
  ];

  # talker with an 8 MB payload in its closure (binary-cache tests cut a fetch mid-way).
  big-talker = mkSystem "big-talker" [
    roscore
    (node "talker" "talker.py" { })
    (node "listener" "listener.py" { })
    (oneshot "payload" "/bin/true ${payload}" "/bin/true")
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
}

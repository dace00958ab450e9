# The lab's fixture systems: name -> system closure. Add a variant with one mkSystem line.
let
  lab = import ./lib.nix;
  inherit (lab) mkSystem mkSystemWith roscore node oneshot labdb dataFiles payload;
  # Schema 1 -> 2; refuses to run on anything but schema 1.
  migrateV2 = ''
    #!/bin/sh
    set -e
    cd /var/lib/labdb
    [ "$(cat schema)" = 1 ]
    echo 2 > schema
    echo migrated >> rows
  '';
  ip = "/usr/sbin/ip";
  heldSystem = name: flags: mkSystem name [
    roscore
    (oneshot "fm-activation" "/bin/sh -c 'while [ -e /run/fm-hold/activation ]; do sleep 0.2; done'" "/bin/true")
    (node "talker" "talker.py${flags}" { waitWhile = "/run/fm-hold/talker"; })
    (node "listener" "listener.py${flags}" { })
  ];
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

  # talker (and talker-header) that the fault-matrix scenario can hold: while
  # /run/fm-hold/activation exists their switch-to-configuration waits (a oneshot still starting);
  # while /run/fm-hold/talker exists /chatter is silent. Without the files (and after any boot:
  # /run is empty) they behave as talker (talker-header).
  fm-held = heldSystem "fm-held" "";
  fm-held-header = heldSystem "fm-held-header" " --header";

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

  db-v1 = mkSystemWith "db-v1" [ roscore (node "talker" "talker.py" { }) (node "listener" "listener.py" { }) labdb ] (dataFiles null);

  db-v2 = mkSystemWith "db-v2" [
    roscore
    (node "talker" "talker.py" { })
    (node "listener" "listener.py" { })
    labdb
  ] (dataFiles migrateV2);

  # Migrates, then its talker crashes: unhealthy.
  db-v2-broken = mkSystemWith "db-v2-broken" [
    roscore
    (node "talker" "talker.py --crash-after 1" { restart = "no"; })
    (node "listener" "listener.py" { })
    labdb
  ] (dataFiles migrateV2);
}

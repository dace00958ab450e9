# The lab's fixture systems: name -> system closure. Add a variant with one mkSystem line.
let
  lab = import ./lib.nix;
  inherit (lab) mkSystem mkSystemWith roscore node oneshot labdb dataFiles;
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

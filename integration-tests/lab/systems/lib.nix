# Fixture "system closures" for the lab robot, built without nixpkgs. Each honours NixOS's
# interface: $out/bin/switch-to-configuration switch|boot|test|dry-activate.
# A variant is one call: mkSystem "name" [ units… ] (see default.nix).
let
  system = "x86_64-linux";
  sh = name: script: derivation {
    inherit name system;
    builder = "/bin/sh";
    args = [ "-c" script ];
    PATH = "/bin:/usr/bin";
  };
  rosEnv = ''
    Environment=ROS_MASTER_URI=http://127.0.0.1:11311
    Environment=ROS_IP=127.0.0.1
    Environment=ROS_HOSTNAME=127.0.0.1
    Environment=ROS_HOME=/var/lib/ros
    Environment=PYTHONUNBUFFERED=1
  '';
in rec {
  inherit rosEnv;

  # Our rospy nodes (one store path shared by every variant).
  rosNodes = sh "ros-nodes" ''
    set -e
    mkdir -p $out/bin
    cp ${./nodes/talker.py} $out/bin/talker.py
    cp ${./nodes/listener.py} $out/bin/listener.py
    chmod 555 $out/bin/*
  '';

  # 8 MB that does not compress: makes a fetch last long enough to be cut mid-way (cache tests).
  payload = sh "lab-payload" "head -c 8000000 /dev/urandom > $out";

  # The ROS master. No store path in it, so it is byte-identical in every variant.
  roscore = {
    name = "roscore.service";
    text = ''
      [Unit]
      Description=ROS master (roscore)

      [Service]
      ${rosEnv}
      ExecStart=/usr/bin/roscore
      Restart=on-failure
      RestartSec=1
    '';
  };

  # A rospy node from rosNodes: node "talker" "talker.py --header" {}.
  # waitWhile = FILE: the unit is active at once but the node starts only once FILE is gone.
  node = name: command: { restart ? "on-failure", waitWhile ? null }: {
    name = "${name}.service";
    text = ''
      [Unit]
      Description=ROS node ${name}
      Requires=roscore.service
      After=roscore.service

      [Service]
      ${rosEnv}
      ExecStart=${if waitWhile == null then "" else "/bin/sh -c 'while [ -e ${waitWhile} ]; do sleep 0.2; done; exec \"$$0\" \"$$@\"' "}${rosNodes}/bin/${command}
      Restart=${restart}
      RestartSec=1
    '';
  };

  # A service keeping a tiny "database" (schema version + rows) in /var/lib/labdb; it writes only
  # when it starts on an empty directory, so its content is what deployments and hooks made it.
  labdb = {
    name = "labdb.service";
    text = ''
      [Unit]
      Description=lab database

      [Service]
      ExecStart=/bin/sh -c 'mkdir -p /var/lib/labdb && cd /var/lib/labdb && { [ -f schema ] || { echo 1 > schema; echo row1 > rows; }; } && exec sleep infinity'
    '';
  };

  # Declares /var/lib/labdb (written by labdb.service) and, when given, a migration hook.
  dataFiles = migrate: ''
    mkdir -p $out/ros-rollback
    echo '[{"path": "/var/lib/labdb", "units": ["labdb.service"]}]' > $out/ros-rollback/data.json
  '' + (if migrate == null then "" else ''
    cat > $out/ros-rollback/migrate <<'LAB_MIGRATE_EOF'
    ${migrate}LAB_MIGRATE_EOF
    chmod 555 $out/ros-rollback/migrate
  '');

  # A oneshot that stays active: ExecStart when activated, ExecStop when removed.
  oneshot = name: start: stop: {
    name = "${name}.service";
    text = ''
      [Unit]
      Description=${name}

      [Service]
      Type=oneshot
      RemainAfterExit=yes
      ExecStart=${start}
      ExecStop=${stop}
    '';
  };

  mkSystem = name: units: mkSystemWith name units "";

  # A system with extra files in its closure, written by the shell snippet `extra` (e.g. $out/ros-rollback/…).
  mkSystemWith = name: units: extra:
    let
      unitDir = sh "lab-units-${name}" (''
        set -e
        mkdir -p $out
      '' + builtins.concatStringsSep "" (map (u: ''
        cat > $out/${u.name} <<'LAB_UNIT_EOF'
        ${u.text}LAB_UNIT_EOF
      '') units));
    in sh "lab-system-${name}" ''
      set -e
      mkdir -p $out/bin
      sed -e "s|@out@|$out|g" -e "s|@units@|${unitDir}|g" -e "s|@loader@|$out/bin/lab-loader|g" ${./switch-to-configuration.sh} > $out/bin/switch-to-configuration
      # A copy, not a reference: loader.sh's own store path would add a path to every system's closure.
      cp ${./loader.sh} $out/bin/lab-loader
      chmod 555 $out/bin/switch-to-configuration
      ln -s ${unitDir} $out/units
      echo ${name} > $out/lab-system
      ${extra}
    '';
}

# The data entries' checks at evaluation (../data-checks.nix, issue 24): settings.data through
# agent-config.nix's `errors`, dataDeclared through the module's assertions. Part of ./pure.nix.
{
  agentConfig,
  agentModuleWith,
  optionDefaults,
  settingsOptions,
  evaluated,
  key,
  test,
}:
[
  (test "errors: data entries on the system's, the agent's or other software's directories, or the agent's own"
    (agentConfig.errors {
      trustedPublicKeys = [ key ];
      data = map (path: { inherit path; }) [
        "/nix/store"
        "/nix"
        "/etc"
        "/etc/ros"
        "/proc/self"
        "/run/db"
        "/var/lib"
        "/var"
        "/"
        "/var/lib/ros-rollback"
        "/var/lib/ros-rollback/snapshots"
        "/run/ros-rollback/holds"
      ];
    })
    [
      "data.0.path \"/nix/store\" lies inside /nix, which the system manages"
      "data.1.path \"/nix\" is /nix, which the system manages"
      "data.2.path \"/etc\" is /etc, which the system manages"
      "data.3.path \"/etc/ros\" lies inside /etc, which the system manages"
      "data.4.path \"/proc/self\" lies inside /proc, which the system manages"
      "data.5.path \"/run/db\" lies inside /run, which the system manages"
      "data.6.path \"/var/lib\" is /var/lib, which holds other software's data"
      "data.7.path \"/var\" contains /var/lib, which holds other software's data"
      "data.8.path \"/\" is the root directory"
      "data.9.path \"/var/lib/ros-rollback\" is the agent's state directory /var/lib/ros-rollback"
      "data.10.path \"/var/lib/ros-rollback/snapshots\" lies inside the agent's state directory /var/lib/ros-rollback"
      "data.11.path \"/run/ros-rollback/holds\" lies inside /run, which the system manages"
    ]
  )

  (test "errors: data entries against a moved state and hold directory, either direction"
    (agentConfig.errors {
      trustedPublicKeys = [ key ];
      stateDir = "/data/rr";
      holds.dir = "/srv/robot/holds";
      data = map (path: { inherit path; }) [
        "/data"
        "/srv/robot"
        "/srv/robot/holds/x"
      ];
    })
    [
      "data.0.path \"/data\" contains the agent's state directory /data/rr"
      "data.1.path \"/srv/robot\" contains the hold directory /srv/robot/holds"
      "data.2.path \"/srv/robot/holds/x\" lies inside the hold directory /srv/robot/holds"
    ]
  )

  (test "errors: data paths that are not canonical or hold control characters, and unit names systemd refuses"
    (agentConfig.errors {
      trustedPublicKeys = [ key ];
      data = [
        { path = "/var/lib/db/"; }
        { path = "/var/lib/x/../db"; }
        { path = "//var/lib/db"; }
        { path = "var/lib/db"; }
        { path = "/var/lib/db\nx"; }
        {
          path = "/var/lib/mapdb";
          units = [
            "mapdb.service"
            "../../etc/passwd"
            "-x; rm -rf /"
            "mapper@.service"
            "db"
          ];
        }
      ];
    })
    [
      "data.0.path \"/var/lib/db/\" is not canonical (no \"..\", \".\", \"//\" or trailing \"/\")"
      "data.1.path \"/var/lib/x/../db\" is not canonical (no \"..\", \".\", \"//\" or trailing \"/\")"
      "data.2.path \"//var/lib/db\" is not canonical (no \"..\", \".\", \"//\" or trailing \"/\")"
      "data.3.path \"var/lib/db\" is not an absolute path"
      "data.4.path (not shown) holds a control character"
      "data.5.units.1 \"../../etc/passwd\" is not a systemd unit name"
      "data.5.units.2 \"-x; rm -rf /\" is not a systemd unit name"
      "data.5.units.3 \"mapper@.service\" is not a systemd unit name"
      "data.5.units.4 \"db\" is not a systemd unit name"
    ]
  )

  (test "errors: data entries that repeat or nest"
    (agentConfig.errors {
      trustedPublicKeys = [ key ];
      data = map (path: { inherit path; }) [
        "/var/lib/a"
        "/var/lib/a"
        "/var/lib/ab"
        "/var/lib/ab/c"
      ];
    })
    [
      "data.1.path \"/var/lib/a\" repeats data.0.path"
      "data.3.path \"/var/lib/ab/c\" and data.2.path \"/var/lib/ab\" nest: one restore would undo the other's"
    ]
  )

  (test "errors: none for data entries inside /var/lib, /home, /srv, with instance and mount units"
    (agentConfig.errors {
      trustedPublicKeys = [ key ];
      data = [
        {
          path = "/var/lib/mapdb";
          units = [
            "mapdb.service"
            "mapper@0.service"
            "var-lib-mapdb.mount"
          ];
        }
        { path = "/home/ros/maps"; }
        { path = "/srv/bags"; }
      ];
    })
    [ ]
  )

  (test "module: dataDeclared is checked with settings.data (a repeat merges, a nest or a system tree fails the build)"
    (
      let
        messages =
          declared:
          evaluated (
            map (a: a.message)
              (agentModuleWith {
                settings = agentConfig.merge (optionDefaults settingsOptions) {
                  trustedPublicKeys = [ key ];
                  data = [ { path = "/var/lib/mapdb"; } ];
                };
                dataDeclared = declared;
              }).config.assertions
          );
      in
      [
        (messages [
          {
            path = "/var/lib/mapdb";
            units = [ "mapdb.service" ];
          }
        ])
        (messages [ { path = "/var/lib/mapdb/tiles"; } ])
        (messages [
          { path = "/var/lib/mapdb/tiles"; }
          { path = "/etc/mapdb"; }
          {
            path = "/var/lib/other";
            units = [ "a b" ];
          }
        ])
      ]
    )
    [
      [ ]
      [
        "services.ros-rollback-agent: dataDeclared.0.path \"/var/lib/mapdb/tiles\" and data.0.path \"/var/lib/mapdb\" nest: one restore would undo the other's"
      ]
      [
        "services.ros-rollback-agent: dataDeclared.1.path \"/etc/mapdb\" lies inside /etc, which the system manages"
        "services.ros-rollback-agent: dataDeclared.2.units.0 \"a b\" is not a systemd unit name"
      ]
    ]
  )

]

# The agent's JSON config as a plain Nix function of the settings: no nixpkgs, no module system, so
# `nix-instantiate --eval --strict --json` can evaluate it anywhere (nix-module/tests, and the vitest
# test that validates the result with the agent's own zod schema).
#
# The NixOS module (agent.nix) takes its option defaults from `defaults` and writes
# `render config.services.ros-rollback-agent.settings`; rendering settings that lack some typed keys
# fills the same defaults in, so the test sees what the module writes.
let
  dataChecks = import ./data-checks.nix;

  defaults = {
    listen = "0.0.0.0:50051";
    tls = {
      caFile = "/etc/ros-rollback/tls/ca.pem";
      certFile = "/etc/ros-rollback/tls/agent.pem";
      keyFile = "/etc/ros-rollback/tls/agent.key";
    };
    profile = "/nix/var/nix/profiles/system";
    stateDir = "/var/lib/ros-rollback";
    # The module's unit: the agent restarts it after a kept deployment that changed it.
    agentUnit = "ros-rollback-agent.service";
    metrics = {
      enabled = true;
      listen = "127.0.0.1:9464";
    };
    holds = {
      dir = "/run/ros-rollback/holds";
      conditions = [ ];
    };
    # The retention policy (agent/src/gc/config.ts): the bootloader keeps as many entries.
    gc = {
      keepGenerations = 5;
    };
  };

  # Bootloader entries kept (`boot.loader.*.configurationLimit`): the policy's newest generations
  # plus the booted and the previous one, which it keeps whatever their age; never an entry whose
  # system the agent's garbage collection may have deleted from the store.
  bootEntries = keepGenerations: keepGenerations + 2;

  # Who may hold the robot by dropping a file in `holds.dir` (besides root).
  holdGroup = "ros-rollback-hold";

  # The hold directory, made by systemd-tmpfiles rather than the agent's RuntimeDirectory=: it must
  # outlive the agent, which restarts itself after a kept deployment (and systemd restarts it after
  # a crash), so a mission's hold file never vanishes with it. `d`, never `D`: NixOS runs
  # `systemd-tmpfiles --create --remove` at every switch, and `D` would empty the directory then.
  # 1770: the hold group writes, the sticky bit lets each writer remove only its own holds (root:
  # all), others cannot even list it. The agent (root, without CAP_DAC_OVERRIDE) owns it.
  holdDirRule = dir: group: "d ${dir} 1770 root ${group} - -";

  # `over` wins; attribute sets merge at every depth (lists and other values are replaced).
  merge =
    base: over:
    base
    // builtins.mapAttrs (
      n: v: if builtins.isAttrs v && builtins.isAttrs (base.${n} or null) then merge base.${n} v else v
    ) over;

  # null means "not set": the agent's own default applies. Dropped at any depth.
  clean =
    v:
    if builtins.isAttrs v then
      builtins.listToAttrs (
        builtins.concatMap (
          n:
          if v.${n} == null then
            [ ]
          else
            [
              {
                name = n;
                value = clean v.${n};
              }
            ]
        ) (builtins.attrNames v)
      )
    else if builtins.isList v then
      map clean v
    else
      v;

  # The module always has tls paths (option defaults); with insecure = true they are left out, since
  # the agent refuses a config with both (it would otherwise be unclear which one wins).
  # dialOut = [ ] (the module's default) is no key at all: the agent wants at least one relay or none.
  render =
    settings:
    let
      c = clean (merge defaults settings);
      noDialOut = if (c.dialOut or [ ]) == [ ] then builtins.removeAttrs c [ "dialOut" ] else c;
    in
    if c.insecure or false then builtins.removeAttrs noDialOut [ "tls" ] else noDialOut;

  # "host:port" or "[v6]:port" → port (an int), or null when it is not of that form.
  portOf =
    listen:
    let
      m =
        if listen == null then null else builtins.match "([[][0-9a-fA-F:]+[]]|[^:[:space:]]+):([0-9]{1,5})" listen;
    in
    if m == null then null else builtins.fromJSON (builtins.elemAt m 1);

  hostOf =
    listen:
    let
      m = builtins.match "[[]([0-9a-fA-F:]+)[]]:[0-9]+|([^:]+):[0-9]+" listen;
    in
    if m == null then
      null
    else if builtins.elemAt m 0 != null then
      builtins.elemAt m 0
    else
      builtins.elemAt m 1;

  isLoopback =
    listen:
    let
      h = hostOf listen;
    in
    h == "localhost" || h == "::1" || (h != null && builtins.match "127\\..*" h != null);

  # settings.data and the generation's dataDeclared against the agent's rules (./data-checks.nix).
  dataErrors =
    settings: declared:
    let
      c = render settings;
    in
    dataChecks.errors {
      data = c.data or [ ];
      inherit declared;
      stateDir = c.stateDir or defaults.stateDir;
      holdDir = c.holds.dir or defaults.holds.dir;
    };

  # The mistakes most likely in a Nix config, caught at evaluation instead of when the agent starts
  # (the agent still validates everything: its schema is the authority).
  errors =
    settings:
    let
      c = render settings;
      keys = c.trustedPublicKeys or [ ];
      dialOut = c.dialOut or [ ];
      badCaches = builtins.filter (
        u: builtins.match "(https?://[^[:space:]/]+(/[^[:space:]]*)?|file:///[^[:space:]]*)" u == null
      ) (c.substituters or [ ]);
      badKeys = builtins.filter (k: builtins.match "[^:[:space:]]+:[A-Za-z0-9+/]{43}=" k == null) keys;
      absolute = p: builtins.isString p && builtins.match "/.*" p != null;
      # Checked even when insecure leaves them out of the rendered config.
      tlsPaths = builtins.attrValues ((clean (merge defaults settings)).tls or { });
      holdDir = c.holds.dir or defaults.holds.dir;
      conditions = c.holds.conditions or [ ];
      topicConds = builtins.filter (h: (h.kind or null) == "topic") conditions;
      hasRos = (c.health.ros or null) != null;
    in
    (if keys == [ ] then [ "trustedPublicKeys: at least one Nix public key (name:base64) is required" ] else [ ])
    ++ map (k: "trustedPublicKeys: \"${k}\" is not name:base64 of a 32-byte key") badKeys
    ++ map (u: "substituters: \"${u}\" is not an http(s):// or file:/// cache URL") badCaches
    ++ (
      if c ? listen then
        (if portOf c.listen == null then [ "listen: expected host:port, got \"${c.listen}\"" ] else [ ])
      else if dialOut == [ ] then
        [ "listen: required unless dialOut names a relay (null leaves the port out)" ]
      else
        [ ]
    )
    ++ map (r: "dialOut: relay \"${r.relay or "?"}\" is not host:port") (
      builtins.filter (r: portOf (r.relay or null) == null) dialOut
    )
    ++ map (r: "dialOut: relay ${r.relay or "?"} has certFile without keyFile or the reverse") (
      builtins.filter (r: (r ? certFile) != (r ? keyFile)) dialOut
    )
    ++ (
      if dialOut != [ ] && (c.insecure or false) then
        [ "dialOut: needs tls (a relay is reached over mutual TLS only), not insecure" ]
      else
        [ ]
    )
    ++ (if builtins.length dialOut > 8 then [ "dialOut: at most 8 relays" ] else [ ])
    ++ (
      if (c.metrics.enabled or true) && portOf (c.metrics.listen or "127.0.0.1:9464") == null then
        [ "metrics.listen: expected host:port" ]
      else
        [ ]
    )
    ++ (
      if (c.insecure or false) && c ? listen && !(isLoopback c.listen) then
        [ "insecure: plaintext gRPC is allowed only on a loopback listen address" ]
      else
        [ ]
    )
    ++ map (p: "tls: \"${toString p}\" must be an absolute path on the robot") (
      builtins.filter (p: !(absolute p)) tlsPaths
    )
    ++ map (p: "tls: ${p} is in the Nix store, which every local user can read; keep keys out of the store") (
      builtins.filter (p: absolute p && builtins.match "/nix/store/.*" p != null) tlsPaths
    )
    ++ (
      # A tmpfiles line: no whitespace.
      if
        !(builtins.isString holdDir)
        || builtins.match "/[^[:space:]]+" holdDir == null
        || builtins.match "/nix/store(/.*)?" holdDir != null
      then
        [ "holds.dir: \"${toString holdDir}\" must be an absolute path on the robot, without spaces, outside the Nix store" ]
      else
        [ ]
    )
    # Unknown counts as held: each of these would hold the robot for good.
    ++ map (h: "holds.conditions: topic ${h.topic or "?"} has no releasedWhen, so it never releases") (
      builtins.filter (h: (h.releasedWhen or [ ]) == [ ]) topicConds
    )
    ++ (
      if topicConds != [ ] && !hasRos then
        [ "holds.conditions: topic conditions are read through health.ros, which is not set: the robot would stay held" ]
      else
        [ ]
    )
    ++ (dataErrors settings [ ]).settings;
in
{
  inherit
    defaults
    bootEntries
    holdGroup
    holdDirRule
    merge
    clean
    render
    portOf
    hostOf
    isLoopback
    errors
    dataErrors
    ;
}

# The relay's JSON config (relay/src/config.ts) as a plain Nix function of the module's options: no
# nixpkgs, no module system, so nix-module/tests evaluates it with `nix-instantiate --eval`.
let
  agentConfig = import ./agent-config.nix;
  inherit (agentConfig) portOf;
  unique = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];

  # The unit reads its TLS files through systemd's LoadCredential= (root-only files, a service
  # without a user of its own), and systemd puts them here for this unit.
  credentialsDir = "/run/credentials/ros-rollback-relay.service";
  credentialNames = {
    certFile = "cert.pem";
    keyFile = "key.pem";
    robotCaFile = "robot-ca.pem";
    controllerCaFile = "controller-ca.pem";
  };

  defaults = {
    robotListen = "0.0.0.0:7443";
    controllerListen = "0.0.0.0:7444";
    # Loopback: robots' metrics leave the relay host only if the operator chooses.
    metricsListen = "127.0.0.1:9465";
    tls = {
      certFile = "/etc/ros-rollback-relay/tls/relay.pem";
      keyFile = "/etc/ros-rollback-relay/tls/relay.key";
      robotCaFile = "/etc/ros-rollback-relay/tls/robot-ca.pem";
      controllerCaFile = "/etc/ros-rollback-relay/tls/controller-ca.pem";
    };
  };

  # What the relay reads: the listen addresses, and the credentials' paths (never the operator's
  # paths, which the unit's user cannot read). metricsListen = null: no metrics port.
  render =
    cfg:
    {
      inherit (cfg) robotListen controllerListen;
      tls = builtins.mapAttrs (k: _: "${credentialsDir}/${credentialNames.${k}}") cfg.tls;
    }
    // (if cfg.metricsListen == null then { } else { inherit (cfg) metricsListen; });

  # LoadCredential= lines: "NAME:PATH" for each TLS file.
  credentials = cfg: map (k: "${credentialNames.${k}}:${cfg.tls.${k}}") (builtins.attrNames credentialNames);

  ports =
    cfg:
    {
      robot = portOf cfg.robotListen;
      controller = portOf cfg.controllerListen;
    }
    // (if cfg.metricsListen == null then { } else { metrics = portOf cfg.metricsListen; });

  # Caught at evaluation rather than by the relay's exit 78 on the robot's side of the world.
  errors =
    cfg:
    let
      p = ports cfg;
      absolute = v: builtins.isString v && builtins.match "/[^:[:space:]]*" v != null;
      paths = builtins.attrValues cfg.tls;
      bound = builtins.filter (v: v != null) (builtins.attrValues p);
    in
    map (k: "${k}Listen: expected host:port") (builtins.filter (k: p.${k} == null) (builtins.attrNames p))
    ++ (
      if builtins.length bound != builtins.length (unique bound) then
        [ "robotListen, controllerListen and metricsListen need different ports" ]
      else
        [ ]
    )
    ++ map (v: "tls: \"${toString v}\" must be an absolute path on the relay host, without ':' or spaces") (
      builtins.filter (v: !(absolute v)) paths
    )
    ++ map (v: "tls: ${v} is in the Nix store, which every local user can read; keep keys out of the store") (
      builtins.filter (v: absolute v && builtins.match "/nix/store/.*" v != null) paths
    );
in
{
  inherit
    credentialsDir
    defaults
    render
    credentials
    ports
    errors
    ;
}

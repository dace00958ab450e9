# Systems of a chosen size, for the disk scenarios: `sized-<mib>m-<i>` is `talker` plus <mib> MiB
# of random bytes (its own store path, so every system adds its full size to a store), and
# `sized-<mib>m-<i>-crashing` the same plus a oneshot that fails at once (its switch exits 4).
# Each has a boot entry: `kernel` (512 KiB) and `initrd` (1 MiB) of its own random bytes, which its
# switch copies to /boot/lab (switch-to-configuration.sh).
# nix-build sized.nix --arg mib 30 --arg count 15 -A sized-30m-1 …  (systems.ts: buildSizedSystems)
{ mib, count }:
let
  lab = import ./lib.nix;
  inherit (lab) mkSystemWith roscore node oneshot;
  random = name: bytes: derivation {
    inherit name;
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "head -c ${toString bytes} /dev/urandom > $out" ];
    PATH = "/bin:/usr/bin";
  };
  payload = name: random name (mib * 1048576);
  one = i: crashing:
    let
      name = "sized-${toString mib}m-${toString i}${if crashing then "-crashing" else ""}";
      units = [
        roscore
        (node "talker" "talker.py" { })
        (node "listener" "listener.py" { })
        (oneshot "payload" "/bin/true ${payload "${name}-payload"}" "/bin/true")
      ];
    in {
      inherit name;
      value = mkSystemWith name (units ++ (if crashing then [ (oneshot "broken" "/bin/false" "/bin/true") ] else [ ])) ''
        ln -s ${random "${name}-kernel" 524288} $out/kernel
        ln -s ${random "${name}-initrd" 1048576} $out/initrd
      '';
    };
  indices = builtins.genList (i: i + 1) count;
in
builtins.listToAttrs (map (i: one i false) indices ++ map (i: one i true) indices)

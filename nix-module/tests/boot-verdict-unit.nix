# The verdict unit's directives, as agent/boot/README.md (the contract) writes them and as systemd
# would read them from the module's unit: for ./boot-counting-tests.nix.
let
  # The directives of the unit in agent/boot/README.md (the contract), ExecStart aside.
  contractUnit =
    let
      lines = builtins.filter builtins.isString (builtins.split "\n" (builtins.readFile ../../agent/boot/README.md));
      block = builtins.foldl' (
        acc: l:
        if l == "```ini" then
          acc // { on = true; }
        else if acc.on && l == "```" then
          acc // { on = false; }
        else if acc.on then
          acc // { out = acc.out ++ [ l ]; }
        else
          acc
      ) { on = false; out = [ ]; } lines;
    in
    builtins.filter (l: builtins.match "[A-Za-z]+=.*" l != null && builtins.match "ExecStart=.*" l == null) block.out;
  yesNo = b: if b then "yes" else "no";
  # The same directives as systemd would read them from the module's unit.
  moduleUnit =
    u:
    [
      "Description=${u.description}"
      "DefaultDependencies=${yesNo u.unitConfig.DefaultDependencies}"
    ]
    ++ map (x: "After=${x}") u.after
    ++ map (x: "Before=${x}") u.before
    ++ [
      "Type=${u.serviceConfig.Type}"
      "RemainAfterExit=${yesNo u.serviceConfig.RemainAfterExit}"
      "TimeoutStartSec=${u.serviceConfig.TimeoutStartSec}"
    ]
    ++ map (x: "RequiredBy=${x}") u.requiredBy;
in
{
  inherit contractUnit moduleUnit;
}

# The agent's rules for data entries (agent/src/data/entry-rules.ts), checked at evaluation so a bad
# entry fails `nixos-rebuild` instead of the agent's start (exit 78). Plain Nix, no nixpkgs. The agent
# still checks everything, and alone checks what needs the robot's disk: symlinks on the way (a
# canonical path whose parts are links), and where the state and hold directories really are.
let
  # Refused when an entry is one of these, contains one, or lies anywhere inside one.
  systemTrees = [
    "/nix"
    "/proc"
    "/sys"
    "/dev"
    "/run"
    "/boot"
    "/etc"
    "/usr"
    "/bin"
    "/sbin"
    "/lib"
    "/lib64"
  ];
  # Refused when an entry is one of these or contains one; a directory inside is what entries are for.
  sharedParents = [
    "/var/lib"
    "/var/cache"
    "/var/log"
    "/var/tmp"
    "/home"
    "/root"
    "/srv"
    "/opt"
    "/mnt"
    "/media"
    "/tmp"
  ];
  unitTypes = "service|socket|device|mount|automount|swap|target|path|timer|slice|scope";
  # systemd's unit-name rules: a prefix not starting with "-", an optional instance, a known type.
  unitName = "[A-Za-z0-9:_.\\][A-Za-z0-9:_.\\-]*(@[A-Za-z0-9:_.\\@-]+)?[.](${unitTypes})";

  # C1 controls (UTF-8 encoded), which [:cntrl:] misses byte by byte.
  c1 = builtins.genList (
    i:
    builtins.fromJSON "\"\\u00${builtins.elemAt [ "8" "9" ] (i / 16)}${
      builtins.substring (builtins.bitAnd i 15) 1 "0123456789abcdef"
    }\""
  ) 32;
  hasControl =
    p: builtins.match "[^[:cntrl:]]*" p == null || builtins.replaceStrings c1 (map (_: "") c1) p != p;

  # What a message echoes: bounded, never a control character (the message reaches a terminal).
  show =
    s:
    if hasControl s then
      "(not shown)"
    else if builtins.stringLength s > 200 then
      "\"${builtins.substring 0 200 s}…\""
    else
      "\"${s}\"";

  startsWith = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
  # `a` is `b` or lies inside it.
  within = a: b: a == b || b == "/" || startsWith "${b}/" a;
  # No "//", no "." or ".." part, no trailing "/".
  canonical = p: builtins.match "(/[^/]+)+" p != null && builtins.match "(.*/)?[.][.]?(/.*)?" p == null;

  first = list: if list == [ ] then null else builtins.head list;
  firstMap = f: list: first (builtins.filter (x: x != null) (map f list));

  pathProblem =
    places: p:
    let
      tree = firstMap (
        t:
        if within p t then
          "${if p == t then "is" else "lies inside"} ${t}, which the system manages"
        else if within t p then
          "contains ${t}, which the system manages"
        else
          null
      ) systemTrees;
      shared = firstMap (
        s: if within s p then "${if p == s then "is" else "contains"} ${s}, which holds other software's data" else null
      ) sharedParents;
      agent = firstMap (
        pl:
        if within p pl.dir then
          "${if p == pl.dir then "is" else "lies inside"} ${pl.what} ${pl.dir}"
        else if within pl.dir p then
          "contains ${pl.what} ${pl.dir}"
        else
          null
      ) places;
    in
    if hasControl p then
      "holds a control character"
    else if !(startsWith "/" p) then
      "is not an absolute path"
    else if p == "/" then
      "is the root directory"
    else if !(canonical p) then
      "is not canonical (no \"..\", \".\", \"//\" or trailing \"/\")"
    else
      firstMap (x: x) [
        tree
        shared
        agent
      ];

  unitProblem =
    u:
    if !(builtins.isString u) then
      "is not a string"
    else if builtins.stringLength u > 255 then
      "is longer than systemd's 255 characters"
    else if builtins.match unitName u == null then
      "is not a systemd unit name"
    else
      null;

  # Every problem of one entry named `name`, as messages.
  entryErrors =
    places: name: e:
    let
      p = e.path or "";
      bad = if builtins.isString p then pathProblem places p else "is not a string";
      units = e.units or [ ];
    in
    (if bad == null then [ ] else [ "${name}.path ${if builtins.isString p then show p else "?"} ${bad}" ])
    ++ builtins.concatLists (
      builtins.genList (
        j:
        let
          u = builtins.elemAt units j;
          ub = unitProblem u;
        in
        if ub == null then [ ] else [ "${name}.units.${toString j} ${if builtins.isString u then show u else "?"} ${ub}" ]
      ) (builtins.length units)
    );

  named =
    prefix: declared: list:
    builtins.genList (
      i:
      (builtins.elemAt list i)
      // {
        name = "${prefix}.${toString i}";
        inherit declared;
      }
    ) (builtins.length list);

  # Pairs (a after b) that nest; a repeat only between two configured entries (the agent merges a
  # declared entry's units into a configured one of the same path, and declared repeats likewise).
  pairErrors =
    list:
    builtins.concatLists (
      builtins.genList (
        i:
        let
          a = builtins.elemAt list i;
        in
        builtins.concatMap (
          b:
          if a.path == b.path then
            (if a.declared || b.declared then [ ] else [ "${a.name}.path ${show a.path} repeats ${b.name}.path" ])
          else if within a.path b.path || within b.path a.path then
            [ "${a.name}.path ${show a.path} and ${b.name}.path ${show b.path} nest: one restore would undo the other's" ]
          else
            [ ]
        ) (builtins.genList (j: builtins.elemAt list j) i)
      ) (builtins.length list)
    );
in
{
  inherit systemTrees sharedParents unitName;

  # `data`: settings.data; `declared`: the generation's dataDeclared. `settings` are the problems of
  # settings.data alone, `declared` those that involve a declared entry.
  errors =
    {
      data,
      declared ? [ ],
      stateDir,
      holdDir,
    }:
    let
      places = [
        {
          what = "the agent's state directory";
          dir = stateDir;
        }
        {
          what = "the hold directory";
          dir = holdDir;
        }
      ];
      configured = named "data" false data;
      fromSystem = named "dataDeclared" true declared;
      eachOf = builtins.concatMap (e: entryErrors places e.name e);
      strings = builtins.all (e: builtins.isString (e.path or null));
      ownSettings = eachOf configured;
      ownDeclared = eachOf fromSystem;
      pairsOk = ownSettings == [ ] && ownDeclared == [ ] && strings (configured ++ fromSystem);
      settingsPairs = if pairsOk then pairErrors configured else [ ];
      allPairs = if pairsOk then pairErrors (configured ++ fromSystem) else [ ];
    in
    {
      settings = ownSettings ++ settingsPairs;
      declared = ownDeclared ++ builtins.filter (m: !(builtins.elem m settingsPairs)) allPairs;
    };
}

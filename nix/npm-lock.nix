# package-lock.json with the registry's tarball URLs (see ./lock-with-resolved.mjs): the input of the
# npm dependency cache (fetchNpmDeps) and the lock the build installs from. The registry is npm's
# built-in default, asked at build time; the repository names none.
{
  runCommand,
  nodejs,
  lockFile,
}:
runCommand "ros-rollback-package-lock" { nativeBuildInputs = [ nodejs ]; } ''
  export HOME=$TMPDIR
  registry=$(npm config get registry)
  mkdir $out
  node ${./lock-with-resolved.mjs} "$registry" < ${lockFile} > $out/package-lock.json
''

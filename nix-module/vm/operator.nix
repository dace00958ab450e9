# The operator's keys that the demo robot VMs (nixosConfigurations.nixos-vm*) trust.
# Replace them with your own before using the VM for anything but the demo (README "On NixOS").
{
  # Nix public keys whose signatures the agent accepts (`ros-rollback deploy --sign-key` signs with
  # the matching secret key). The default is the SNAKEOIL demo key in ../tests/snakeoil/: anybody
  # with this repository has its secret half. Your own: nix-store --generate-binary-cache-key
  # NAME-1 signing.sec signing.pub, then put the contents of signing.pub here.
  trustedPublicKeys = [ "ros-rollback-snakeoil-1:YYFO+K5ke6FGBr1AJOCmlStsrb6r1p9FXBzrlkp0p4Y=" ];

  # SSH public keys for the user robotix (besides the initial password "robot").
  authorizedKeys = [ ];
}

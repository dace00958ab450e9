# nixosConfigurations of the demo robot: nixos-vm (QEMU/libvirt) and nixos-vm-vbox (VirtualBox),
# each with the variants -header and -broken. A variant must be deployed to a VM of its own platform
# (the boot loader's disk differs: /dev/vda vs /dev/sda).
{
  nixpkgs,
  modules,
}:
let
  mk =
    platform: variant:
    nixpkgs.lib.nixosSystem {
      modules = modules ++ [
        ./robot.nix
        platform
        {
          nixpkgs.hostPlatform = "x86_64-linux";
          robotix.variant = variant;
        }
      ];
    };
in
{
  nixos-vm = mk ./qemu.nix "base";
  nixos-vm-header = mk ./qemu.nix "header";
  nixos-vm-broken = mk ./qemu.nix "broken";
  nixos-vm-vbox = mk ./virtualbox.nix "base";
  nixos-vm-vbox-header = mk ./virtualbox.nix "header";
  nixos-vm-vbox-broken = mk ./virtualbox.nix "broken";
}

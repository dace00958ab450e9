# The robot VM under VirtualBox: nixpkgs' VirtualBox appliance module (SATA disk /dev/sda, NAT NIC,
# guest additions, the OVA in system.build.virtualBoxOVA = packages.vbox). NAT forwards host port
# 3022 to the VM's ssh and 50051 to the agent. Built from this very configuration, so the appliance
# boots exactly the generation that `nixos-vm-vbox` deploys.
{ modulesPath, ... }:
{
  imports = [ (modulesPath + "/virtualisation/virtualbox-image.nix") ];

  networking.hostName = "nixos-vm";
  networking.useDHCP = true;

  virtualbox = {
    vmName = "robotix nixos-vm";
    vmFileName = "robotix-nixos-vm.ova";
    memorySize = 2048;
    params.natpf1 = [
      "ssh,tcp,127.0.0.1,3022,,22"
      "agent,tcp,127.0.0.1,50051,,50051"
    ];
  };
}

# The robot VM under QEMU/libvirt: virtio disk /dev/vda (BIOS GRUB), the libvirt default network
# with a static address, and the qcow2 image (packages.qemu) built from this very configuration, so
# the image boots exactly the generation that `nixos-vm` deploys.
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.robotix.qemu;
in
{
  imports = [ (modulesPath + "/profiles/qemu-guest.nix") ];

  options.robotix.qemu = {
    interface = mkOption {
      type = types.str;
      default = "ens2";
      description = ''
        The NIC that gets the static address (`ens2` for a virtio NIC in PCI slot 2). Any other NIC
        still asks for DHCP.
      '';
    };
    address = mkOption {
      type = types.str;
      default = "192.168.122.10";
      description = "Static IPv4 address on libvirt's default network (192.168.122.0/24).";
    };
    gateway = mkOption {
      type = types.str;
      default = "192.168.122.1";
      description = "Default gateway and DNS server (libvirt's dnsmasq).";
    };
  };

  config = {
    networking.hostName = "nixos-vm";
    networking.useDHCP = true;
    networking.interfaces.${cfg.interface} = {
      useDHCP = false;
      ipv4.addresses = [
        {
          inherit (cfg) address;
          prefixLength = 24;
        }
      ];
    };
    networking.defaultGateway = {
      address = cfg.gateway;
      interface = cfg.interface;
    };
    networking.nameservers = [ cfg.gateway ];
    services.qemuGuest.enable = true;

    boot.loader.grub = {
      enable = true;
      devices = [ "/dev/vda" ];
    };
    boot.growPartition = true;
    fileSystems."/" = {
      device = "/dev/disk/by-label/nixos";
      fsType = "ext4";
      autoResize = true;
    };

    # nixpkgs' disk image builder (the one behind nixos-generators' qcow format and 25.05's
    # `system.build.images.qemu`): a legacy (MBR) partition table, GRUB installed on it.
    system.build.qcow2 = import (modulesPath + "/../lib/make-disk-image.nix") {
      inherit lib config pkgs;
      name = "robotix-nixos-vm";
      format = "qcow2";
      partitionTableType = "legacy";
      diskSize = "auto";
      additionalSpace = "2048M";
    };
  };
}

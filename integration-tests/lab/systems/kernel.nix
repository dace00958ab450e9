# Systems with a kernel, for the VM robot (scenarios/vm-boot.test.ts): each is `talker` (or a
# variant) plus `kernel`, `initrd` (the VM image's own vmlinuz and initrd.img, passed in) and
# `kernel-params`, which the lab's switch-to-configuration turns into a systemd-boot entry
# (loader.sh). Every parameter list differs from the base entry's by `lab.variant=NAME`.
# nix-build kernel.nix --arg vmlinuz /path/vmlinuz --arg initrd /path/initrd.img -A kernel-ok  (systems.ts)
{ vmlinuz, initrd }:
let
  lab = import ./lib.nix;
  inherit (lab) mkSystemWith rosEnv node;
  # The ROS master alone (what roscore's roslaunch starts, without its rosout node): roslaunch gives
  # up when its master does not answer within 10 s, and a loaded TCG boot took longer (roscore exited
  # 1 and was in auto-restart during the health window). rosmaster has no such limit.
  roscore = {
    name = "roscore.service";
    text = ''
      [Unit]
      Description=ROS master (rosmaster --core)

      [Service]
      ${rosEnv}
      ExecStart=/usr/bin/rosmaster --core -p 11311
      Restart=on-failure
      RestartSec=1
    '';
  };
  kernel = builtins.path { path = vmlinuz; name = "lab-vmlinuz"; };
  initrdFile = builtins.path { path = initrd; name = "lab-initrd"; };
  # The base entry's parameters (build-vm-image.sh); panic=5: a kernel panic reboots after 5 s.
  base = "root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=5 quiet";
  withKernel = name: talker: params: withKernelRestart name talker params "on-failure";
  withKernelRestart = name: talker: params: restart: mkSystemWith name [
    roscore
    (node "talker" talker { inherit restart; })
    (node "listener" "listener.py" { })
  ] ''
    ln -s ${kernel} $out/kernel
    ln -s ${initrdFile} $out/initrd
    echo '${base} lab.variant=${name} ${params}' > $out/kernel-params
  '';
in {
  kernel-ok = withKernel "kernel-ok" "talker.py" "";
  kernel-ok-b = withKernel "kernel-ok-b" "talker.py" "";
  # Boots; its talker exits after 1 s and stays down: health fails on talker.service (a VM judges
  # health by units: ROS under TCG is too slow for the lab's topic checks).
  kernel-unhealthy = withKernelRestart "kernel-unhealthy" "talker.py --crash-after 1" "" "no";
  # The initrd hands over to an init that exits at once: the kernel panics ("Attempted to kill
  # init") and panic=5 reboots: every boot of it is a failed try.
  kernel-panic = withKernel "kernel-panic" "talker.py" "init=/bin/false";
}

// The VM robot's QEMU: UEFI (OVMF, its own EFI variables), qcow2 overlays on the cached base
// disks, a tap on the robot's host address, the repo over 9p, a watchdog that resets; TCG (KVM
// hangs on this machine's nested virtualization). Started detached; reset through its QMP socket.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { REPO_ROOT, type RobotPaths } from "./config.js";
import { isAlive } from "./container.js";
import { LabError, run, sleep } from "./proc.js";
import { OVMF_CODE, OVMF_VARS } from "./vm-image.js";

export interface VmFiles {
  marker: string;
  pidFile: string;
  qmp: string;
  root: string;
  esp: string;
  vars: string;
  seed: string;
  qemuLog: string;
}

export function vmFiles(paths: RobotPaths): VmFiles {
  const f = (n: string) => join(paths.dir, n);
  return {
    marker: f("vm"),
    pidFile: f("qemu.pid"),
    qmp: f("qmp.sock"),
    root: f("root.qcow2"),
    esp: f("esp.qcow2"),
    vars: f("OVMF_VARS.fd"),
    seed: f("seed.img"),
    qemuLog: f("qemu.log"),
  };
}

export const isVm = (paths: RobotPaths): boolean => existsSync(vmFiles(paths).marker);

/** QEMU's pid if it runs for this robot. */
export function qemuPid(paths: RobotPaths): number | undefined {
  const files = vmFiles(paths);
  const pid = Number(existsSync(files.pidFile) ? readFileSync(files.pidFile, "utf8").trim() : "");
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  return argv.includes(files.qmp) || argv.some((a) => a.includes(files.qmp)) ? pid : undefined;
}

const qemuImg = (args: string[], signal?: AbortSignal) =>
  run("qemu-img", args, { timeoutMs: 30_000, signal });

/** Fresh overlays on the base, a fresh copy of the EFI variables, and the seed disk of per-VM files. */
export async function makeDisks(paths: RobotPaths, base: string, signal?: AbortSignal): Promise<void> {
  const files = vmFiles(paths);
  for (const [overlay, backing] of [
    [files.root, "root.img"],
    [files.esp, "esp.img"],
  ] as const) {
    rmSync(overlay, { force: true });
    await qemuImg(["create", "-q", "-f", "qcow2", "-F", "raw", "-b", join(base, backing), overlay], signal);
  }
  writeFileSync(files.vars, readFileSync(OVMF_VARS));
  rmSync(files.seed, { force: true });
  await run("truncate", ["-s", "64M", files.seed], { timeoutMs: 10_000, signal });
  await run("mkfs.ext4", ["-q", "-L", "labseed", "-d", paths.root, files.seed], {
    timeoutMs: 60_000,
    signal,
  });
}

/** Starts QEMU detached (console on the robot's log). Returns its pid. */
export function startQemu(name: string, paths: RobotPaths, tap: string): number {
  const files = vmFiles(paths);
  rmSync(files.qmp, { force: true });
  // biome-ignore format: flag pairs
  const args = [
    "-name", name, "-machine", "q35", "-accel", "tcg,thread=multi", "-smp", "2", "-m", "1024",
    "-display", "none", "-serial", `file:${paths.log}`, "-monitor", "none",
    "-qmp", `unix:${files.qmp},server=on,wait=off`,
    "-drive", `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
    "-drive", `if=pflash,format=raw,file=${files.vars}`,
    // No default devices (VGA, DVD-ROM) and no iPXE ROM on the NIC, and OVMF boots the ESP first:
    // less firmware work under TCG. The disks keep their order (vda root, vdb ESP, vdc seed).
    "-nodefaults",
    "-drive", `if=none,id=root,format=qcow2,file=${files.root}`, "-device", "virtio-blk-pci,drive=root",
    "-drive", `if=none,id=esp,format=qcow2,file=${files.esp}`, "-device", "virtio-blk-pci,drive=esp,bootindex=0",
    "-drive", `if=none,id=seed,format=raw,readonly=on,file=${files.seed}`, "-device", "virtio-blk-pci,drive=seed",
    "-netdev", `tap,id=n0,ifname=${tap},script=no,downscript=no`, "-device", "virtio-net-pci,netdev=n0,romfile=",
    "-virtfs", `local,path=${REPO_ROOT},mount_tag=app,security_model=none,readonly=on`,
    "-device", "i6300esb", "-action", "watchdog=reset",
  ];
  const log = openSync(files.qemuLog, "a");
  try {
    const child = spawn("qemu-system-x86_64", args, { detached: true, stdio: ["ignore", log, log] });
    child.unref();
    if (child.pid === undefined) throw new LabError(`robot ${name}: could not start qemu-system-x86_64`);
    writeFileSync(files.pidFile, `${child.pid}\n`);
    writeFileSync(files.marker, "");
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** Kills QEMU (the VM's disks stay). Idempotent. */
export async function stopQemu(name: string, paths: RobotPaths): Promise<void> {
  const pid = qemuPid(paths);
  if (pid !== undefined) {
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
    if (isAlive(pid)) throw new LabError(`robot ${name}: qemu ${pid} does not die`);
  }
  rmSync(vmFiles(paths).pidFile, { force: true });
}

/** A power cut: QMP system_reset (no shutdown inside the guest). */
export function qmpReset(name: string, paths: RobotPaths, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(vmFiles(paths).qmp);
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new LabError(`robot ${name}: no answer on the QMP socket`));
    }, timeoutMs);
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(new LabError(`robot ${name}: QMP: ${e.message}`, { cause: e }));
    });
    socket.on("data", (chunk) => {
      text += chunk.toString("utf8");
      if (text.includes('"QMP"') && !text.includes("qmp_capabilities-sent")) {
        text += "qmp_capabilities-sent";
        socket.write('{"execute":"qmp_capabilities"}\n{"execute":"system_reset"}\n');
      }
      if ((text.match(/"return"/g) ?? []).length >= 2) {
        clearTimeout(timer);
        socket.end();
        resolve();
      }
    });
  });
}

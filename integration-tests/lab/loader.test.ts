// systems/loader.sh, run by the kernel systems' real switch-to-configuration in a private mount
// namespace: tmpfs over /boot (an ESP as build-vm-image.sh lays it out), the system profile,
// /var/lib/lab-system and /run/nixos, so the host's own stay untouched. Needs root (the lab does).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildKernelSystems, buildSystems, type KernelSystem } from "./systems.js";

const image = mkdtempSync(join(tmpdir(), "lab-loader-"));
afterAll(() => rmSync(image, { recursive: true, force: true }));
let kernel: Record<KernelSystem, string>;
let talker: string;

beforeAll(async () => {
  // Stand-ins for the VM image's kernel and initrd: the installer only copies them.
  writeFileSync(join(image, "vmlinuz"), "kernel\n");
  writeFileSync(join(image, "initrd.img"), "initrd\n");
  kernel = await buildKernelSystems(image);
  const all = await buildSystems();
  talker = all.talker ?? "";
}, 300_000);

/** Runs `steps` (sh) in a namespace with an empty profile and a base-only ESP; prints what it left. */
function inNamespace(steps: string): string {
  const script = `set -eu
for d in /boot /nix/var/nix/profiles /var/lib/lab-system /run/nixos; do mkdir -p $d; mount -t tmpfs lab $d; done
mkdir -p /boot/loader/entries /boot/EFI/nixos
echo base > /boot/EFI/nixos/base-linux.efi; echo base > /boot/EFI/nixos/base-initrd.efi
printf 'linux /EFI/nixos/base-linux.efi\\ninitrd /EFI/nixos/base-initrd.efi\\n' > /boot/loader/entries/nixos-generation-0.conf
P=/nix/var/nix/profiles
gen() { ln -sfn "$2" $P/system-$1-link; ln -sfn system-$1-link $P/system; }
show() { echo "entries: $(ls /boot/loader/entries | tr '\\n' ' ')"; echo "efi: $(ls /boot/EFI/nixos | wc -l)"; sed -n 's/^default /default: /p' /boot/loader/loader.conf; }
${steps}`;
  return execFileSync("unshare", ["-m", "sh", "-c", script], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

describe("the VM robot's loader entries (systems/loader.sh)", () => {
  it("boot writes a counted entry naming the system, makes it the default, and keeps it on a re-run", () => {
    const out = inNamespace(`gen 1 ${kernel["kernel-ok"]}
${kernel["kernel-ok"]}/bin/switch-to-configuration boot
show; cat /boot/loader/entries/nixos-generation-1+2.conf
mv /boot/loader/entries/nixos-generation-1+2.conf /boot/loader/entries/nixos-generation-1+1-1.conf
${kernel["kernel-ok"]}/bin/switch-to-configuration boot; show`);
    const [first, rerun] = out.split("entries: ").slice(1);
    expect(first).toContain("nixos-generation-0.conf nixos-generation-1+2.conf \nefi: 4\n");
    expect(out).toMatch(
      /^options root=\/dev\/vda .* lab\.variant=kernel-ok +lab\.system=\/nix\/store\/\S+$/m,
    );
    expect(out).toContain(` lab.system=${kernel["kernel-ok"]}\n`);
    expect(out).toContain("default: nixos-generation-1.conf");
    // A boot already counted keeps its counter: the installer does not hand it fresh tries.
    expect(rerun).toBe(
      "nixos-generation-0.conf nixos-generation-1+1-1.conf \nefi: 4\ndefault: nixos-generation-1.conf\n",
    );
  });

  it("prunes the entries of generations gone from the profile, and the files only they named", () => {
    const out =
      inNamespace(`gen 1 ${kernel["kernel-ok"]}; ${kernel["kernel-ok"]}/bin/switch-to-configuration boot
gen 2 ${kernel["kernel-panic"]}; ${kernel["kernel-panic"]}/bin/switch-to-configuration boot; show
rm $P/system-2-link; gen 1 ${kernel["kernel-ok"]}; ${kernel["kernel-ok"]}/bin/switch-to-configuration boot; show
rm $P/system-1-link; gen 3 ${talker}; ${talker}/bin/switch-to-configuration boot; show`);
    const shows = out.split("entries: ").slice(1);
    expect(shows[0]).toContain("nixos-generation-0.conf nixos-generation-1+2.conf nixos-generation-2+2.conf");
    expect(shows[0]).toContain("default: nixos-generation-2.conf");
    expect(shows[1]).toContain("nixos-generation-0.conf nixos-generation-1+2.conf \n");
    expect(shows[1]).toContain("default: nixos-generation-1.conf");
    // No kernel: the base entry boots it (lab-boot then runs the profile's newest).
    expect(shows[2]).toBe("nixos-generation-0.conf \nefi: 2\ndefault: nixos-generation-0.conf\n");
  });
});

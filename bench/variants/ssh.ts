// The baselines a user has without us: streaming the export through ssh (plain or through zstd),
// and `nix copy --to ssh://` (Nix's legacy ssh store: `nix-store --serve --write` in the robot).
// ssh as a user runs it: default cipher, MAC and compression (none); only the lab's key and its
// pinned host key are passed (see integration-tests/lab/ssh.ts).
import { run } from "../../integration-tests/lab/proc.js";
import type { Target } from "../links/index.js";

const HOST_NIX = "build-users-group =\nexperimental-features = nix-command";
const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

function sshCommand(target: Target): string {
  const { options, port, host } = target.ssh;
  return ["ssh", ...options, "-p", String(port), `root@${host}`].map(quote).join(" ");
}

/** `nix-store --export | [zstd -3 |] ssh root@robot [zstd -d |] nix-store --import`. */
export async function sshPipe(target: Target, paths: readonly string[], zstd: boolean): Promise<number> {
  const remote = zstd ? "zstd -d -q -c | nix-store --import" : "nix-store --import";
  const script = `set -o pipefail; nix-store --export "$@" | ${zstd ? "zstd -3 -q -c | " : ""}${sshCommand(target)} ${quote(remote)} >/dev/null`;
  const t0 = performance.now();
  await run("bash", ["-c", script, "bench", ...paths], {
    timeoutMs: 600_000,
    env: { ...process.env, NIX_CONFIG: HOST_NIX },
  });
  return (performance.now() - t0) / 1000;
}

/**
 * `nix copy --to ssh://root@robot PATHS`, as a user types it: the legacy ssh store imports as the
 * remote root without checking signatures, so neither --no-check-sigs nor a trusted key is needed.
 */
export async function nixCopy(target: Target, paths: readonly string[]): Promise<number> {
  const { options, port, host } = target.ssh;
  const t0 = performance.now();
  await run("nix", ["copy", "--to", `ssh://root@${host}`, ...paths], {
    timeoutMs: 600_000,
    env: { ...process.env, NIX_CONFIG: HOST_NIX, NIX_SSHOPTS: [...options, "-p", String(port)].join(" ") },
  });
  return (performance.now() - t0) / 1000;
}

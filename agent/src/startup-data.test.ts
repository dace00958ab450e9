// Issue 24: every data entry the agent must refuse, through the real agent binary: exit 78
// (EX_CONFIG: the units do not restart), one bounded line on stderr naming the entry, no stack.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runAgent } from "./testing/startup-cases.js";

const KEY = "k-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

const dir = realpathSync(mkdtempSync(join(tmpdir(), "rr-startup-data-")));
const state = join(dir, "state");
const holds = join(dir, "holds");
mkdirSync(join(dir, "real"));
symlinkSync(join(dir, "real"), join(dir, "link"));
symlinkSync("/nix/store", join(dir, "to-store"));
symlinkSync(join(dir, "loop-b"), join(dir, "loop-a"));
symlinkSync(join(dir, "loop-a"), join(dir, "loop-b"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Entry = { path: string; units?: string[] };
const at = (path: string, units?: string[]): Entry[] => [{ path, ...(units && { units }) }];

/** [what, data entries, what the line must say]. */
const refused: [string, Entry[], RegExp][] = [
  ["/", at("/"), /data\.0\.path "\/" is the root directory/],
  ["/nix", at("/nix"), /data\.0\.path "\/nix" is \/nix/],
  ["/nix/store", at("/nix/store"), /"\/nix\/store" lies inside \/nix/],
  ["/proc", at("/proc"), /"\/proc" is \/proc/],
  ["inside /sys", at("/sys/fs"), /lies inside \/sys/],
  ["/dev", at("/dev"), /is \/dev/],
  ["inside /run", at("/run/ros"), /lies inside \/run/],
  ["/boot", at("/boot"), /is \/boot/],
  ["/etc", at("/etc"), /is \/etc/],
  ["inside /etc", at("/etc/ros"), /lies inside \/etc/],
  ["/var/lib itself", at("/var/lib"), /"\/var\/lib" is \/var\/lib/],
  ["/var (contains /var/lib)", at("/var"), /contains \/var\/lib/],
  ["the state directory", at(state), /is the agent's state directory/],
  ["inside the state directory", at(join(state, "snapshots")), /lies inside the agent's state directory/],
  ["a parent of the state directory", at(dir), /contains the agent's state directory/],
  ["the hold directory", at(holds), /is the hold directory/],
  ["inside the hold directory", at(join(holds, "x")), /lies inside the hold directory/],
  [
    "two entries that repeat",
    [{ path: "/var/lib/a" }, { path: "/var/lib/a" }],
    /data\.1\.path "\/var\/lib\/a" repeats data\.0\.path/,
  ],
  ["two entries that nest", [{ path: "/var/lib/a" }, { path: "/var/lib/a/b" }], /data\.1\.path .* nest/],
  ["a trailing slash", at("/var/lib/db/"), /is not canonical/],
  ["a ..", at("/var/lib/x/../db"), /is not canonical/],
  ["a relative path", at("var/lib/db"), /is not an absolute path/],
  ["a newline", at("/var/lib/db\nx"), /data\.0\.path "\/var\/lib\/db\\nx" holds a control character/],
  ["an escape sequence", at("/var/lib/\u001b]0;pwned\u0007"), /holds a control character/],
  ["a symlink", at(join(dir, "link")), /goes through a symbolic link: it is really ".*\/real"/],
  ["a symlink to the store", at(join(dir, "to-store", "x")), /it is really "\/nix\/store\/x"/],
  ["a symlink loop", at(join(dir, "loop-a")), /loops through symbolic links/],
  [
    "a unit that is a path",
    at("/var/lib/db", ["../../etc/passwd"]),
    /data\.0\.units\.0 .* is not a systemd unit name/,
  ],
  ["a unit that is an option", at("/var/lib/db", ["-x; rm -rf /"]), /"-x; rm -rf \/" is not a systemd unit/],
  ["a unit name too long", at("/var/lib/db", [`${"a".repeat(300)}.service`]), /longer than systemd's 255/],
  ["a path of 4,000 characters", at(`/etc/${"x".repeat(4_000)}`), /lies inside \/etc/],
  ["a path of 100 k characters", at(`/var/lib/${"x".repeat(100_000)}`), /data\.0\.path: Too big/],
];

let n = 0;
async function configWith(data: Entry[]): Promise<string> {
  const file = join(dir, `agent-${++n}.json`);
  const raw = {
    listen: "127.0.0.1:0",
    insecure: true,
    trustedPublicKeys: [KEY],
    stateDir: state,
    holds: { dir: holds },
    logTarget: "stdout",
    metrics: { enabled: false },
    data,
  };
  await writeFile(file, JSON.stringify(raw));
  return file;
}

describe("the agent binary refuses a data entry it must not snapshot: exit 78, one line", () => {
  it.each(refused)("%s", async (_, data, want) => {
    const r = await runAgent(await configWith(data));
    expect(r.stderr).toMatch(/^ros-rollback-agent: [^\n]+\n$/);
    expect(r.stderr).not.toMatch(/\bat .*:\d+:\d+/);
    expect(r.stderr.length).toBeLessThan(1_000);
    expect(r.stderr).toMatch(want);
    expect(r.code, r.stderr).toBe(78);
  });
});

import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProcessRunner } from "../system/command.js";
import { EspBootLoader } from "./boot-loader.js";
import { isBad, isBlessed, parseEntryName } from "./entries.js";

const GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";
let dir: string;
let esp: string;
let efivars: string;
let entries: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "bootloader-"));
  esp = join(dir, "esp");
  efivars = join(dir, "efivars");
  entries = join(esp, "loader", "entries");
  await mkdir(entries, { recursive: true });
  await mkdir(efivars);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const loader = (blessBoot?: string) =>
  new EspBootLoader({ esp, efivars, runner: new ProcessRunner(), ...(blessBoot ? { blessBoot } : {}) });

/** What systemd-boot writes: attributes, then the id in UTF-16LE with a NUL. */
async function selectEntry(id: string): Promise<void> {
  const attrs = Buffer.from([7, 0, 0, 0]);
  await writeFile(
    join(efivars, `LoaderEntrySelected-${GUID}`),
    Buffer.concat([attrs, Buffer.from(`${id}\0`, "utf16le")]),
  );
}

describe("loader entry names", () => {
  it("reads counted, counted-down, bad and blessed names", () => {
    expect(parseEntryName("nixos-generation-7+2.conf")).toMatchObject({
      generation: 7,
      triesLeft: 2,
      triesDone: 0,
    });
    expect(parseEntryName("nixos-generation-7+1-1.conf")).toMatchObject({ triesLeft: 1, triesDone: 1 });
    const bad = parseEntryName("nixos-generation-7+0-2.conf");
    expect(bad && isBad(bad)).toBe(true);
    const good = parseEntryName("nixos-generation-12.conf");
    expect(good && isBlessed(good)).toBe(true);
    expect(parseEntryName("nixos-generation-7-specialisation-x.conf")).toBeUndefined();
    expect(parseEntryName("loader.conf")).toBeUndefined();
  });
});

describe("EspBootLoader on a real ESP directory", () => {
  it("follows generation N's entry as the loader counts it down and blesses it", async () => {
    await writeFile(join(entries, "nixos-generation-6.conf"), "title old\n");
    await writeFile(join(entries, "nixos-generation-7+2.conf"), "title new\n");
    expect(await loader().entryOf(7)).toMatchObject({ triesLeft: 2, triesDone: 0 });
    await rename(join(entries, "nixos-generation-7+2.conf"), join(entries, "nixos-generation-7+1-1.conf"));
    expect(await loader().entryOf(7)).toMatchObject({ triesLeft: 1, triesDone: 1 });
    await rename(join(entries, "nixos-generation-7+1-1.conf"), join(entries, "nixos-generation-7.conf"));
    const e = await loader().entryOf(7);
    expect(e && isBlessed(e)).toBe(true);
    expect(await loader().entryOf(8)).toBeUndefined();
  });

  it("names the booted generation from LoaderEntrySelected, with or without the counter", async () => {
    expect(await loader().bootedGeneration()).toBeUndefined();
    await selectEntry("nixos-generation-7+1-1.conf");
    expect(await loader().bootedGeneration()).toBe(7);
    await selectEntry("nixos-generation-6.conf");
    expect(await loader().bootedGeneration()).toBe(6);
  });

  it("gives an uncounted entry its tries (nixos-25.05's installer counts nothing), leaves a counted one", async () => {
    await writeFile(join(entries, "nixos-generation-1.conf"), "");
    await writeFile(join(entries, "nixos-generation-2.conf"), "");
    await writeFile(join(entries, "nixos-generation-3+1-1.conf"), "");
    expect(await loader().countEntry(2, 3)).toMatchObject({
      file: "nixos-generation-2+3.conf",
      triesLeft: 3,
    });
    expect(await loader().countEntry(2, 5)).toMatchObject({ file: "nixos-generation-2+3.conf" });
    expect(await loader().countEntry(3, 3)).toMatchObject({ file: "nixos-generation-3+1-1.conf" });
    expect(await loader().countEntry(4, 3)).toBeUndefined();
    expect((await readdir(entries)).sort()).toEqual([
      "nixos-generation-1.conf",
      "nixos-generation-2+3.conf",
      "nixos-generation-3+1-1.conf",
    ]);
  });

  it("removes every entry of a generation, and again after a cut left nothing to remove", async () => {
    await writeFile(join(entries, "nixos-generation-6.conf"), "");
    await writeFile(join(entries, "nixos-generation-7+0-2.conf"), "");
    await loader().removeEntries(7);
    await loader().removeEntries(7);
    expect(await readdir(entries)).toEqual(["nixos-generation-6.conf"]);
  });

  it("marks the boot bad with systemd-bless-boot bad, and fails loudly when that fails", async () => {
    const log = join(dir, "bless.log");
    const ok = join(dir, "bless-ok");
    await writeFile(ok, `#!/bin/sh\necho "$@" >> ${log}\n`);
    await chmod(ok, 0o755);
    await loader(ok).markBad();
    expect(await readFile(log, "utf8")).toBe("bad\n");
    const failing = join(dir, "bless-fail");
    await writeFile(failing, "#!/bin/sh\necho no LoaderBootCountPath >&2\nexit 1\n");
    await chmod(failing, 0o755);
    await expect(loader(failing).markBad()).rejects.toMatchObject({ code: "EXTERNAL_COMMAND_FAILED" });
  });

  it("says the ESP has no entries directory as a precondition, not a crash", async () => {
    await rm(join(esp, "loader"), { recursive: true });
    await expect(loader().entryOf(7)).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
  });
});

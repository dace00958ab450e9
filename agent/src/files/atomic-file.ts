import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";

// One way to replace a file whole, for the deployment record and the data store's manifest:
// a temp file written and fsynced, renamed over, then the directory fsynced.

let tmpCounter = 0;

/** A temp name no other write uses, even concurrent ones in this process or another. */
function tmpName(file: string): string {
  tmpCounter += 1;
  return `${file}.tmp-${process.pid}-${tmpCounter}-${randomBytes(4).toString("hex")}`;
}

export async function writeFileAtomic(dir: string, file: string, data: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = tmpName(file);
  try {
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  const dh = await open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

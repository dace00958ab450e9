// `node --import tsx dump-to-stdout.ts PATH`: dumpNar(PATH) to stdout; on a NarDumpError its code on
// stderr and exit 3. For tests that need another user's view of the filesystem (root reads anything).
import { dumpNar, isNarDumpError } from "../nar-dump.js";

async function main(path: string): Promise<void> {
  try {
    for await (const piece of dumpNar(path)) process.stdout.write(piece);
  } catch (e) {
    if (!isNarDumpError(e)) throw e;
    process.stderr.write(`${e.code}\n`);
    process.exitCode = 3;
  }
}

await main(process.argv[2] ?? "");

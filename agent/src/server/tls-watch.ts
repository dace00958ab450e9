import { unwatchFile, watchFile } from "node:fs";
import type { Logger } from "pino";

/** How often the TLS files' stat is compared (fs.watchFile polls: it sees renames and bind mounts alike). */
const POLL_MS = 2_000;

/**
 * Reloads the TLS material when one of `files` changes (a renewed
 * certificate, a new CRL) or on `onSignal` (SIGHUP). Changes in a burst
 * (cert then key) end in one reload after the last. A failed reload keeps
 * the old material and says why. Returns a stop function.
 */
export function watchTls(
  files: readonly string[],
  reload: () => Promise<void>,
  log: Logger,
  onSignal: (handler: () => void) => () => void,
  pollMs: number = POLL_MS,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const run = (why: string) => {
    running = running.then(() =>
      reload().then(
        () => log.info({ why }, "tls material reloaded"),
        (e: unknown) =>
          log.error({ err: e, why }, `tls reload failed, the old material stays: ${(e as Error).message}`),
      ),
    );
  };
  const soon = (why: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => run(why), Math.min(500, pollMs)).unref();
  };
  const listener = () => soon("a tls file changed");
  for (const f of files) watchFile(f, { interval: pollMs, persistent: false }, listener);
  const offSignal = onSignal(() => run("SIGHUP"));
  return () => {
    clearTimeout(timer);
    offSignal();
    for (const f of files) unwatchFile(f, listener);
  };
}

// The delay proxy as its own process, so its event loop does not share a core's time slices with
// the push it delays: node --import tsx bench/links/delay-proxy-main.ts DELAY_MS HOST:PORT…
// Prints one JSON line {"HOST:PORT": listening port on 127.0.0.1, …}; runs until stdin closes.
import { type DelayProxy, startDelayProxy } from "./delay-proxy.js";

async function main(argv: string[]): Promise<void> {
  const [delay, ...targets] = argv;
  const delayMs = Number(delay);
  if (!Number.isFinite(delayMs) || delayMs < 0 || targets.length === 0) {
    throw new Error("usage: delay-proxy-main.ts DELAY_MS HOST:PORT…");
  }
  const proxies: DelayProxy[] = [];
  const ports: Record<string, number> = {};
  for (const t of targets) {
    const m = /^([^:]+):(\d{1,5})$/.exec(t);
    if (m === null) throw new Error(`bad target ${t.slice(0, 100)}: want HOST:PORT`);
    const proxy = await startDelayProxy({ target: { host: m[1] ?? "", port: Number(m[2]) }, delayMs });
    proxies.push(proxy);
    ports[t] = proxy.port;
  }
  process.stdout.write(`${JSON.stringify(ports)}\n`);
  // The parent holds our stdin: when it goes (exits or kills us), so do we.
  process.stdin.resume();
  process.stdin.on("end", () => {
    void Promise.all(proxies.map((p) => p.close())).then(() => process.exit(0));
  });
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`delay-proxy: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

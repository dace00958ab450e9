import { readFile } from "node:fs/promises";
import type { Duplex } from "node:stream";
import { createSecureContext } from "node:tls";
import type { Registry } from "prom-client";
import type { DialOut } from "../config/schema.js";
import { metricsStreamServer } from "../metrics/relay-stream.js";
import { type LinkLog, RelayLink } from "./relay-link.js";

/** Port of "host:port" / "[v6]:port" (validated by the config). */
function split(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(":");
  return { host: hostPort.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(hostPort.slice(i + 1)) };
}

/**
 * One link per configured relay (as Teleport agents connect to every proxy); returns stop.
 * Controllers' streams go to the gRPC server (`inject`), the relay's scrapes to GET /metrics
 * of `registry` only (undefined: metrics are off, the relay gets 404).
 */
export async function startDialOut(
  relays: readonly DialOut[],
  inject: (stream: Duplex) => void,
  registry: Registry | undefined,
  log: LinkLog,
): Promise<{ links: readonly RelayLink[]; reloadTls(): Promise<void>; stop(): void }> {
  const links: RelayLink[] = [];
  const scrapes = metricsStreamServer(registry, (e) =>
    log.warn({ err: e instanceof Error ? e.message : String(e) }, "serving metrics to a relay failed"),
  );
  const material = (d: DialOut) =>
    Promise.all([readFile(d.caFile), readFile(d.certFile), readFile(d.keyFile)]).then(([ca, cert, key]) => ({
      ca,
      cert,
      key,
    }));
  for (const d of relays) {
    links.push(
      new RelayLink({
        ...split(d.relay),
        tls: await material(d),
        onStream: inject,
        onMetricsStream: scrapes.serve,
        log,
      }),
    );
  }
  for (const l of links) l.start();
  return {
    links,
    // All files read and parsed before any link changes: a half-renewed set keeps the old material.
    reloadTls: async () => {
      const next = await Promise.all(relays.map(material));
      const contexts = next.map((tls) => createSecureContext(tls));
      links.forEach((l, i) => {
        const c = contexts[i];
        if (c !== undefined) l.setTls(c);
      });
    },
    stop: () => {
      for (const l of links) l.stop();
      scrapes.close();
    },
  };
}

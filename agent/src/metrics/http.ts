import { readFile } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { AgentError } from "../errors.js";

export interface MetricsServerOptions {
  /** host:port ("[::1]:9464" for IPv6); port 0 picks a free one. */
  readonly listen: string;
  /** HTTPS instead of HTTP; with caFile, scrapers must present a certificate chaining to it. */
  readonly tls?:
    | { readonly certFile: string; readonly keyFile: string; readonly caFile?: string | undefined }
    | undefined;
}

export interface MetricsServer {
  readonly port: number;
  /** The URL to scrape. */
  readonly url: string;
  close(): Promise<void>;
}

export function splitHostPort(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  const host = listen.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(listen.slice(i + 1));
  if (i <= 0 || host === "" || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new AgentError("INVALID_ARGUMENT", `metrics listen address "${listen}": expected host:port`);
  return { host, port };
}

/** Answers GET (and HEAD) /metrics with the registry in Prometheus' text format; every other path is 404. */
export function metricsHandler(
  registry: Registry,
  onError: (e: unknown) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { "content-type": registry.contentType });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (e: unknown) => {
        onError(e);
        res.writeHead(500, { "content-type": "text/plain" }).end("collecting metrics failed\n");
      },
    );
  };
}

/** Serves GET /metrics (the registry in Prometheus' text format); every other path is 404. */
export async function startMetricsServer(
  o: MetricsServerOptions,
  registry: Registry,
  onError: (e: unknown) => void = () => {},
): Promise<MetricsServer> {
  const { host, port } = splitHostPort(o.listen);
  const handler = metricsHandler(registry, onError);
  const tls = o.tls;
  const server =
    tls === undefined
      ? createHttpServer(handler)
      : createHttpsServer(
          {
            cert: await readTlsFile(tls.certFile),
            key: await readTlsFile(tls.keyFile),
            ...(tls.caFile === undefined
              ? {}
              : { ca: await readTlsFile(tls.caFile), requestCert: true, rejectUnauthorized: true }),
          },
          handler,
        );
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) =>
      reject(new AgentError("FAILED_PRECONDITION", `cannot serve metrics on ${o.listen}: ${e.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  server.on("error", onError);
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    port: bound,
    url: `${tls === undefined ? "http" : "https"}://${urlHost}:${bound}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scraper's kept-alive connection must not hold up the agent's exit.
        server.closeAllConnections();
      }),
  };
}

async function readTlsFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new AgentError(
      "INVALID_ARGUMENT",
      `cannot read metrics.tls file ${file}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
}

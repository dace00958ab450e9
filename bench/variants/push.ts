// Our PushPaths over mTLS gRPC, as the controller streams it. A new client (TCP, TLS, HTTP/2) per
// push: the ssh variants pay for their connection too.

import { readFileSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import {
  AgentClient,
  Compression,
  type PathInfo,
  type PushPathsRequest,
  type PushPathsResponse,
} from "@ros-rollback/proto";
import { pushRequests } from "../../controller/src/closure/index.js";
import type { Target } from "../links/index.js";

const COMPRESSION = {
  none: Compression.COMPRESSION_NONE,
  zstd: Compression.COMPRESSION_ZSTD,
  auto: "auto",
} as const;

export function send(
  client: AgentClient,
  requests: AsyncIterable<PushPathsRequest>,
): Promise<PushPathsResponse> {
  return new Promise((resolve, reject) => {
    const call = client.pushPaths((err, res) => (err ? reject(err) : resolve(res)));
    (async () => {
      for await (const r of requests) {
        if (!call.write(r)) await new Promise((ok) => call.once("drain", ok));
      }
      call.end();
    })().catch((e: unknown) => {
      call.cancel();
      reject(e);
    });
  });
}

/** The requests as they pass, the NarChunk bytes (compressed, if the push is) given to `count`. */
export async function* countChunks(
  requests: AsyncIterable<PushPathsRequest>,
  count: (bytes: number) => void,
): AsyncGenerator<PushPathsRequest> {
  for await (const r of requests) {
    if (r.item?.$case === "chunk") count(r.item.value.data.length);
    yield r;
  }
}

/** Seconds and NarChunk bytes sent for our PushPaths of the (signed) infos; the compression auto chose. */
export async function push(
  target: Target,
  infos: readonly PathInfo[],
  compression: keyof typeof COMPRESSION,
): Promise<{ seconds: number; wireBytes: number; chose?: string }> {
  const { caFile, keyFile, certFile } = target.tls;
  const creds = credentials.createSsl(readFileSync(caFile), readFileSync(keyFile), readFileSync(certFile));
  let chose: string | undefined;
  let wireBytes = 0;
  const t0 = performance.now();
  const client = new AgentClient(target.agentAddress, creds);
  try {
    const requests = pushRequests(
      [...infos],
      { compression: COMPRESSION[compression], onCompression: (c) => (chose = Compression[c.compression]) },
      AbortSignal.timeout(600_000),
    );
    const res = await send(
      client,
      countChunks(requests, (n) => (wireBytes += n)),
    );
    const seconds = (performance.now() - t0) / 1000;
    if (res.imported.length !== infos.length) {
      throw new Error(`agent imported ${res.imported.length} of ${infos.length} paths`);
    }
    return { seconds, wireBytes, ...(chose === undefined ? {} : { chose }) };
  } finally {
    client.close();
  }
}

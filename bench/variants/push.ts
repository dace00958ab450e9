// Our PushPaths over mTLS gRPC, as the controller streams it. A new client (TCP, TLS, HTTP/2) per
// push: the ssh variants pay for their connection too.

import { readFileSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import { Compression, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import { fastAgentClient } from "@ros-rollback/proto/clients";
import { pushRequests } from "../../controller/src/push/push-requests.js";
import { rawPush } from "../../controller/src/push/transport/raw-push-client.js";
import { sendPush } from "../../integration-tests/support/controller.js";
import type { Target } from "../links/index.js";

const COMPRESSION = {
  none: Compression.COMPRESSION_NONE,
  zstd: Compression.COMPRESSION_ZSTD,
  auto: "auto",
} as const;

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
  transport: "raw" | "grpc" = "raw",
): Promise<{ seconds: number; wireBytes: number; chose?: string; why?: string[] }> {
  const { caFile, keyFile, certFile } = target.tls;
  const [ca, key, cert] = [readFileSync(caFile), readFileSync(keyFile), readFileSync(certFile)];
  const creds = credentials.createSsl(ca, key, cert);
  let chose: string | undefined;
  const why: string[] = [];
  let wireBytes = 0;
  const t0 = performance.now();
  // The controller's client: its PushPaths codec encodes chunks without copies.
  const client = new (fastAgentClient())(
    target.agentAddress,
    creds,
    target.serverName === undefined ? {} : { "grpc.ssl_target_name_override": target.serverName },
  );
  try {
    // auto may go uncompressed part of the way inside the one stream: `chose` lists each change.
    const requests = pushRequests(
      infos,
      {
        compression: COMPRESSION[compression],
        onCompression: (c) => {
          chose = chose === undefined ? Compression[c.compression] : `${chose}+${Compression[c.compression]}`;
          why.push(c.why);
        },
      },
      AbortSignal.timeout(600_000),
    );
    const counted = countChunks(requests, (n) => (wireBytes += n));
    const raw =
      transport === "grpc"
        ? undefined
        : await rawPush(
            {
              address: target.agentAddress,
              serverName: target.serverName,
              ca,
              cert,
              key,
              ...(target.dial === undefined ? {} : { dial: target.dial }),
            },
            counted,
            AbortSignal.timeout(600_000),
            {
              connectTimeoutMs: 10_000,
              answerTimeoutMs: 60_000,
              // As the CLI does (rollout/push-transfer.ts): auto's link verdict comes from the agent's reports.
              onProgress: (p) => requests.agentProgress(p),
            },
          );
    if (raw?.kind === "unsupported") throw new Error(`no raw push channel: ${raw.why}`);
    const res = raw?.response ?? (await sendPush(client, counted));
    const imported = res.imported.length;
    const seconds = (performance.now() - t0) / 1000;
    if (imported !== infos.length) {
      throw new Error(`agent imported ${imported} of ${infos.length} paths`);
    }
    return { seconds, wireBytes, ...(chose === undefined ? {} : { chose, why }) };
  } finally {
    client.close();
  }
}

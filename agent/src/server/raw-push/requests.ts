import {
  BadFrame,
  deserializePushPathsRequest,
  FRAME,
  type FramePart,
  FrameReader,
  MAX_DATA_FRAME,
  MAX_MESSAGE_FRAME,
  type PushPathsRequest,
} from "@ros-rollback/proto";
import { AgentError } from "../../errors.js";
import { decoded, UndecodableRequest } from "../decode.js";

const LIMITS: ReadonlyMap<number, number> = new Map([
  [FRAME.MESSAGE, MAX_MESSAGE_FRAME],
  [FRAME.DATA, MAX_DATA_FRAME],
  [FRAME.END, 0],
]);

/**
 * The raw channel's bytes as the PushPaths messages they carry, for the same
 * receivePush as gRPC's: DATA bytes come as chunk messages as they arrive
 * (views, no reassembly). Ends at END; a stream that stops before it broke
 * (the push is aborted, nothing half-sent is registered); garbage is the
 * client's error (INVALID_ARGUMENT).
 */
export async function* rawPushRequests(bytes: AsyncIterable<Buffer>): AsyncGenerator<PushPathsRequest> {
  const reader = new FrameReader(LIMITS);
  for await (const input of bytes) {
    const parts = reader.push(input);
    for (;;) {
      let r: IteratorResult<FramePart>;
      try {
        r = parts.next();
      } catch (e) {
        if (e instanceof BadFrame) {
          throw new AgentError("INVALID_ARGUMENT", `not a raw push stream: ${e.message}`, { cause: e });
        }
        throw e;
      }
      if (r.done === true) break;
      const part = r.value;
      if (part.kind === "data") {
        yield { item: { $case: "chunk", value: { data: part.bytes } } };
      } else if (part.type === FRAME.END) {
        return;
      } else {
        yield decodeMessage(part.payload);
      }
    }
  }
  throw new AgentError("ABORTED", "the push stream broke: the connection closed before the end of the push");
}

function decodeMessage(payload: Buffer): PushPathsRequest {
  let m: PushPathsRequest;
  try {
    m = deserializePushPathsRequest(payload);
  } catch (e) {
    decoded(new UndecodableRequest(e), "PushPaths"); // throws INVALID_ARGUMENT, worded as gRPC's
    throw e;
  }
  // NAR bytes travel in DATA frames only: one way to send them.
  if (m.item?.$case === "chunk") {
    throw new AgentError("INVALID_ARGUMENT", "not a raw push stream: NAR bytes in a MESSAGE frame");
  }
  return m;
}

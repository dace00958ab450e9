export * from "./gen/ros_rollback/v1/agent.js";
export { GrpcStatus, type GrpcStatusName, grpcStatusName } from "./grpc-status.js";
export { AGENT_ERROR_CODE_KEY, HELD_ERROR_CODE } from "./metadata.js";

import { fileURLToPath } from "node:url";

/** Absolute path of the .proto file, for reflection and for grpcurl users. */
export function agentProtoPath(): string {
  return fileURLToPath(new URL("../ros_rollback/v1/agent.proto", import.meta.url));
}

/** Directory to pass as an include path when loading agent.proto. */
export function protoIncludeDir(): string {
  return fileURLToPath(new URL("..", import.meta.url));
}
export {
  deserializePushPathsRequest,
  FastAgentService,
  narChunkRequest,
  serializePushPathsRequest,
  takeDataFrame,
} from "./push-codec.js";
export {
  BadFrame,
  decodeRawPushError,
  decodeRawPushProgress,
  encodeRawPushError,
  encodeRawPushProgress,
  FRAME,
  FRAME_HEADER_BYTES,
  type FramePart,
  FrameReader,
  type FrameType,
  frameHeader,
  MAX_DATA_FRAME,
  MAX_MESSAGE_FRAME,
  MAX_RESULT_FRAME,
  PROGRESS_FRAME_BYTES,
  RAW_PUSH_ALPN_V1,
  RAW_PUSH_ALPN_V2,
  RAW_PUSH_ALPNS,
  type RawPushError,
  type RawPushProgress,
} from "./raw-push.js";
export { RAW_BLOCK_MAX, rawZstdFrames } from "./zstd-raw.js";

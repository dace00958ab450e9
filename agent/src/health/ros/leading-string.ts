/** Longest string field we keep: hold conditions compare short states, not payloads. */
const MAX_STRING = 256;

/** Whether the type's first field (comments and constants aside) is a `string`. */
export function startsWithString(definition: string): boolean {
  for (const raw of definition.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    if (line.startsWith("=====")) return false;
    if (line.includes("=")) continue;
    return /^string\s+\w+$/.test(line);
  }
  return false;
}

/** ROS 1 serialization of a leading string: uint32 little-endian length, then UTF-8 bytes. */
export function firstString(buffer: Buffer): string | undefined {
  if (buffer.length < 4) return undefined;
  const len = buffer.readUInt32LE(0);
  if (len > buffer.length - 4) return undefined;
  return buffer.subarray(4, 4 + Math.min(len, MAX_STRING)).toString("utf8");
}

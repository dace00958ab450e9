import { describe, expect, it } from "vitest";
import { firstString, startsWithString } from "./leading-string.js";

/** ROS 1 serialization of a std_msgs/String, as rospy writes it (after the message length). */
function serialized(s: string): Buffer {
  const body = Buffer.from(s, "utf8");
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length, 0);
  return Buffer.concat([len, body]);
}

describe("leading string of a ROS message", () => {
  it("recognizes definitions whose first field is a string", () => {
    expect(startsWithString("string data\n")).toBe(true);
    expect(startsWithString("# the state\nint32 IDLE=0\nstring state # comment\nint32 x\n")).toBe(true);
    expect(startsWithString("Header header\nstring data\n")).toBe(false);
    expect(startsWithString("string[] names\n")).toBe(false);
    expect(startsWithString("")).toBe(false);
  });

  it("decodes the field, bounded, and refuses a truncated buffer", () => {
    expect(firstString(serialized("idle"))).toBe("idle");
    expect(firstString(serialized("émission"))).toBe("émission");
    expect(firstString(serialized("x".repeat(10_000)))?.length).toBe(256);
    expect(firstString(serialized("idle").subarray(0, 6))).toBeUndefined();
    expect(firstString(Buffer.alloc(2))).toBeUndefined();
  });
});

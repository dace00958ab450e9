import { describe, expect, it } from "vitest";
import { parseGraphState } from "./graph-query.js";
import { decodeHeader, encodeHeader } from "./tcpros.js";
import { parseResponse } from "./xmlrpc.js";

describe("XML-RPC answers", () => {
  it("parses what rosmaster sends: nested arrays, ints, typed and untyped strings, entities", () => {
    const xml = `<?xml version='1.0'?>
<methodResponse>
<params>
<param>
<value><array><data>
<value><int>1</int></value>
<value><string>current system state</string></value>
<value><array><data>
<value><array><data><value><string>/chatter</string></value>
<value><array><data><value>/talker</value><value><string>a&amp;b &lt;c&gt;</string></value></data></array></value>
</data></array></value>
</data></array></value>
<value><boolean>1</boolean></value>
<value><double>0.5</double></value>
<value><string></string></value>
<value/>
<value><struct><member><name>k</name><value><i4>7</i4></value></member></struct></value>
</data></array></value>
</param>
</params>
</methodResponse>`;
    expect(parseResponse(xml)).toEqual([
      1,
      "current system state",
      [["/chatter", ["/talker", "a&b <c>"]]],
      true,
      0.5,
      "",
      "",
      { k: 7 },
    ]);
  });

  it("turns a fault into an error and refuses malformed answers", () => {
    const fault = `<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member><member><name>faultString</name><value><string>no such method</string></value></member></struct></value></fault></methodResponse>`;
    expect(() => parseResponse(fault, "getFoo")).toThrow("getFoo: XML-RPC fault: no such method");
    expect(() => parseResponse("<html>502 Bad Gateway</html>")).toThrow(/malformed XML-RPC answer/);
    expect(() => parseResponse("<methodResponse><params><param><value><array><data>")).toThrow(/truncated/);
  });
});

describe("TCPROS headers", () => {
  it("round-trips fields, values with '=' and newlines included", () => {
    const fields = { callerid: "/a", type: "*", message_definition: "string data\\nint32 x=1\\n" };
    const buf = encodeHeader(fields);
    expect(buf.readUInt32LE(0)).toBe(buf.length - 4);
    expect(Object.fromEntries(decodeHeader(buf.subarray(4)))).toEqual(fields);
  });

  it("refuses a truncated header", () => {
    const buf = encodeHeader({ md5sum: "abc" });
    expect(() => decodeHeader(buf.subarray(4, buf.length - 1))).toThrow(/truncated/);
  });
});

describe("parseGraphState", () => {
  it("collects publishers, types, and every node from publishers, subscribers and services", () => {
    const s = parseGraphState(
      [
        [
          ["/chatter", ["/talker"]],
          ["/rosout", ["/talker", "/listener"]],
        ],
        [["/chatter", ["/listener"]]],
        [["/rosout/get_loggers", ["/rosout"]]],
      ],
      [["/chatter", "std_msgs/String"]],
      "run-1",
    );
    expect(s.publishers.get("/chatter")).toEqual(["/talker"]);
    expect(s.topicTypes.get("/chatter")).toBe("std_msgs/String");
    expect([...s.nodes].sort()).toEqual(["/listener", "/rosout", "/talker"]);
    expect(s.runId).toBe("run-1");
  });
});

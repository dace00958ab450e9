import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { postText } from "./http-post.js";
import { xmlRpcCall } from "./xmlrpc.js";

let server: Server | undefined;

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((ok) => server?.listen(0, "127.0.0.1", ok));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((ok) => server?.close(ok));
  server = undefined;
});

const code = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: unknown) => (e as { code?: string }).code,
  );

describe("postText (XML-RPC transport over node:http)", () => {
  it("posts the body and returns the answer; xmlRpcCall parses it", async () => {
    let got = "";
    const url = await serve((req, res) => {
      req.setEncoding("utf8");
      req.on("data", (c: string) => {
        got += c;
      });
      req.on("end", () =>
        res.end(
          "<?xml version='1.0'?><methodResponse><params><param><value><array><data><value><int>1</int></value><value>ok</value><value><string>run-7</string></value></data></array></value></param></params></methodResponse>",
        ),
      );
    });
    expect(await xmlRpcCall(url, "getParam", ["/me", "/run_id"], { timeoutMs: 5000 })).toEqual([
      1,
      "ok",
      "run-7",
    ]);
    expect(got).toContain("<methodName>getParam</methodName>");
    expect(got).toContain("<string>/run_id</string>");
  });

  it("refuses a non-2xx answer, an oversized answer and a non-http URL", async () => {
    const url = await serve((req, res) => {
      if (req.url === "/big") res.end("x".repeat(5000));
      else {
        res.statusCode = 502;
        res.end("bad gateway");
      }
    });
    await expect(postText(url, "", "call", { timeoutMs: 5000 })).rejects.toThrow("call failed: HTTP 502");
    await expect(postText(`${url}big`, "", "call", { timeoutMs: 5000, maxBytes: 4096 })).rejects.toThrow(
      /answer larger than 4096 bytes/,
    );
    await expect(postText("https://127.0.0.1:1/", "", "call", { timeoutMs: 5000 })).rejects.toThrow(
      /https: is not http:/,
    );
  });

  it("ends in TIMEOUT when nothing answers, ABORTED when the signal fires, and names a refused connection", async () => {
    const url = await serve(() => {});
    expect(await code(postText(url, "", "call", { timeoutMs: 200 }))).toBe("TIMEOUT");
    const ac = new AbortController();
    const p = code(postText(url, "", "call", { timeoutMs: 60_000, signal: ac.signal }));
    ac.abort();
    expect(await p).toBe("ABORTED");
    const aborted = AbortSignal.abort();
    expect(await code(postText(url, "", "call", { timeoutMs: 60_000, signal: aborted }))).toBe("ABORTED");
    await expect(postText("http://127.0.0.1:1/", "", "call", { timeoutMs: 5000 })).rejects.toThrow(
      /call failed: .*ECONNREFUSED/,
    );
  });
});

import { request } from "node:http";
import { AgentError } from "../../errors.js";

/** More than any master's answer about a robot's graph: a bigger one is not the ROS API. */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

/**
 * POSTs `body` over plain HTTP (the ROS master and slave APIs) and returns the
 * answer's text. node:http rather than the global fetch: the first fetch loads
 * undici and compiles its WebAssembly parser, ~10 MB of RSS the agent would keep
 * from its first health round on (measured on a lab robot, bench/agent.ts).
 * Bounded by `timeoutMs`, `signal` and MAX_ANSWER_BYTES; errors are AgentErrors:
 * ABORTED, TIMEOUT, or EXTERNAL_COMMAND_FAILED naming the cause.
 */
export function postText(
  url: string,
  body: string,
  what: string,
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal; readonly maxBytes?: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (cause) {
      return reject(new AgentError("EXTERNAL_COMMAND_FAILED", `${what} failed: not a URL`, { cause }));
    }
    if (target.protocol !== "http:")
      return reject(
        new AgentError("EXTERNAL_COMMAND_FAILED", `${what} failed: ${target.protocol} is not http:`),
      );
    const max = options.maxBytes ?? MAX_ANSWER_BYTES;
    let settled = false;
    const finish = (err: Error | undefined, text?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (err !== undefined) {
        req.destroy();
        reject(err);
      } else resolve(text ?? "");
    };
    const onAbort = (): void =>
      finish(new AgentError("ABORTED", `${what} aborted`, { cause: options.signal?.reason }));
    const timer = setTimeout(
      () => finish(new AgentError("TIMEOUT", `${what}: no answer within ${options.timeoutMs / 1000} s`)),
      options.timeoutMs,
    );
    const req = request(
      target,
      {
        method: "POST",
        // A connection per call, as the ROS master expects (rospy's server is HTTP/1.0): no pooled
        // socket left over from a master that restarted or hung.
        agent: false,
        headers: { "content-type": "text/xml", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > max)
            return finish(
              new AgentError("EXTERNAL_COMMAND_FAILED", `${what} failed: answer larger than ${max} bytes`),
            );
          chunks.push(c);
        });
        res.on("error", (e) =>
          finish(new AgentError("EXTERNAL_COMMAND_FAILED", `${what} failed: ${e.message}`, { cause: e })),
        );
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299)
            finish(new AgentError("EXTERNAL_COMMAND_FAILED", `${what} failed: HTTP ${status}`));
          else finish(undefined, Buffer.concat(chunks).toString("utf8"));
        });
      },
    );
    req.on("error", (e) =>
      finish(new AgentError("EXTERNAL_COMMAND_FAILED", `${what} failed: ${e.message}`, { cause: e })),
    );
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    req.end(body);
  });
}

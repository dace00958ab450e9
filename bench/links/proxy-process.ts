// Starts bench/links/delay-proxy-main.ts as a child process and reads its ports.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("./delay-proxy-main.ts", import.meta.url));

export interface ProxyProcess {
  /** Listening port on 127.0.0.1 per "host:port" target. */
  readonly ports: Record<string, number>;
  close(): Promise<void>;
}

export function startProxyProcess(delayMs: number, targets: readonly string[]): Promise<ProxyProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, String(delayMs), ...targets], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const close = async (): Promise<void> => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let out = "";
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`delay proxy exited (${code}) before it listened`)));
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const line = out.split("\n")[0];
      if (out.includes("\n") && line !== undefined) {
        try {
          resolve({ ports: JSON.parse(line) as Record<string, number>, close });
        } catch (e) {
          void close();
          reject(e);
        }
      }
    });
  });
}

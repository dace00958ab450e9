// The start-up refusals as data, shared by the checkStartup and agent-binary tests: each case
// writes its files into a fresh directory and says what the refusal must mention; and the built
// agent run with a config.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeTestPki } from "@ros-rollback/proto/testing";
import { expect } from "vitest";

const MAIN = resolve(fileURLToPath(import.meta.url), "../../../dist/main.js");
const KEY = "k-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

export interface Setup {
  readonly config: string;
  readonly state: string;
}

export interface Case {
  readonly name: string;
  readonly code: 75 | 78;
  /** Also run through the agent binary (one per family: each spawn costs a second of CPU). */
  readonly spawn?: boolean;
  make(): { config: string; mentions: (string | RegExp)[]; after?: () => void };
}

export interface StartupCases {
  /** A fresh directory with a config that is valid except for `over`. */
  setup(over?: Record<string, unknown>, record?: string): Setup;
  readonly cases: readonly Case[];
  close(): void;
}

export function startupCases(): StartupCases {
  const dir = mkdtempSync(join(tmpdir(), "rr-startup-"));
  const pki = makeTestPki(join(dir, "pki"));
  let n = 0;
  function textFile(name: string, text: string): string {
    const file = join(dir, `${++n}-${name}`);
    writeFileSync(file, text);
    return file;
  }

  /** A fresh directory with a config that is valid except for `over`. */
  function setup(over: Record<string, unknown> = {}, record?: string): Setup {
    const caseDir = join(dir, `case-${++n}`);
    const state = join(caseDir, "state");
    mkdirSync(state, { recursive: true });
    if (record !== undefined) writeFileSync(join(state, "deployment.json"), record);
    const config = join(caseDir, "agent.json");
    const raw = {
      listen: "127.0.0.1:0",
      tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey },
      trustedPublicKeys: [KEY],
      stateDir: state,
      logTarget: "stdout",
      metrics: { enabled: false },
      ...over,
    };
    writeFileSync(config, JSON.stringify(raw));
    return { config, state };
  }
  const tls = (over: Record<string, string>) => ({
    tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey, ...over },
  });

  /** A deployment.json the agent cannot use: kept byte for byte, nothing written beside it. */
  function unusableRecord(text: string, why: RegExp): Case["make"] {
    return () => {
      const { config, state } = setup({}, text);
      const record = join(state, "deployment.json");
      return {
        config,
        mentions: [
          `the deployment record ${record} is unusable`,
          why,
          `move it aside (mv ${record} ${record}.corrupt-`,
        ],
        after: () => {
          expect(readFileSync(record, "utf8")).toBe(text);
          expect(readdirSync(state)).toEqual(["deployment.json"]);
        },
      };
    };
  }

  const cases: Case[] = [
    {
      name: "a missing config file",
      code: 78,
      spawn: true,
      make: () => {
        const config = join(dir, "nope.json");
        return { config, mentions: [`cannot read config ${config}`] };
      },
    },
    {
      name: "a config that is not JSON",
      code: 78,
      make: () => {
        const config = textFile("agent.json", "{ listen: ");
        return { config, mentions: [`config ${config} is not JSON`] };
      },
    },
    {
      name: "insecure: true together with tls (instead of serving plaintext)",
      code: 78,
      spawn: true,
      make: () => {
        const { config } = setup({ insecure: true });
        return { config, mentions: [`config ${config}`, "insecure: true and tls are both set"] };
      },
    },
    {
      name: "an empty tls.caFile",
      code: 78,
      spawn: true,
      make: () => {
        const ca = textFile("ca.pem", "");
        return { config: setup(tls({ caFile: ca })).config, mentions: [`tls.caFile ${ca} is empty`] };
      },
    },
    {
      name: "a tls.caFile that is not PEM",
      code: 78,
      make: () => {
        const ca = textFile("ca.pem", "this is not a certificate\n");
        return {
          config: setup(tls({ caFile: ca })).config,
          mentions: [`tls.caFile ${ca} holds no PEM certificate`],
        };
      },
    },
    {
      name: "a tls.caFile whose certificate does not parse",
      code: 78,
      make: () => {
        const ca = textFile("ca.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        return {
          config: setup(tls({ caFile: ca })).config,
          mentions: [`tls.caFile ${ca}: certificate 1 does not parse`],
        };
      },
    },
    {
      name: "a tls.certFile that holds a key, not a certificate",
      code: 78,
      make: () => ({
        config: setup(tls({ certFile: pki.serverKey })).config,
        mentions: [`tls.certFile ${pki.serverKey} holds no PEM certificate`],
      }),
    },
    {
      name: "a tls.keyFile that is not PEM",
      code: 78,
      make: () => {
        const key = textFile("agent.key", "garbage");
        return {
          config: setup(tls({ keyFile: key })).config,
          mentions: [`tls.keyFile ${key} holds no PEM private key`],
        };
      },
    },
    {
      name: "a tls.keyFile that is not the certificate's key",
      code: 78,
      spawn: true,
      make: () => ({
        config: setup(tls({ keyFile: pki.clientKey })).config,
        mentions: [
          `tls.keyFile ${pki.clientKey} is not the key of the certificate in tls.certFile ${pki.serverCert}`,
        ],
      }),
    },
    {
      name: "an unreadable tls.keyFile (a directory)",
      code: 78,
      make: () => ({
        config: setup(tls({ keyFile: dir })).config,
        mentions: [`cannot read tls.keyFile ${dir}`],
      }),
    },
    {
      name: "a bad metrics.tls key",
      code: 78,
      make: () => ({
        config: setup({
          metrics: { listen: "127.0.0.1:0", tls: { certFile: pki.serverCert, keyFile: pki.rogueKey } },
        }).config,
        mentions: [`metrics.tls.keyFile ${pki.rogueKey} is not the key`],
      }),
    },
    {
      // A new robot before its TLS files are installed: the units restart on 75.
      name: "a tls file that does not exist yet",
      code: 75,
      spawn: true,
      make: () => {
        const ca = join(dir, "not-yet", "ca.pem");
        return {
          config: setup(tls({ caFile: ca })).config,
          mentions: [`tls.caFile ${ca} does not exist (yet)`],
        };
      },
    },
    {
      name: "a stateDir that is a file",
      code: 78,
      spawn: true,
      make: () => {
        const file = textFile("state", "x");
        return {
          config: setup({ stateDir: file }).config,
          mentions: [`stateDir ${file} cannot be used`],
          after: () => expect(readFileSync(file, "utf8")).toBe("x"),
        };
      },
    },
    {
      // A directory no process may write to, whoever runs the test (root included).
      name: "a stateDir it cannot write",
      code: 78,
      make: () => ({
        config: setup({ stateDir: "/proc/self" }).config,
        mentions: ["stateDir /proc/self is not writable"],
      }),
    },
    {
      name: "a deployment.json with truncated JSON",
      code: 78,
      spawn: true,
      make: unusableRecord('{"version": 1, "id": "d-1", "state": "activ', /is unusable: not JSON/),
    },
    { name: "an empty deployment.json", code: 78, make: unusableRecord("", /is unusable: not JSON/) },
    {
      name: "a deployment.json of another record version",
      code: 78,
      make: unusableRecord(
        '{"version": 2, "id": "d-1", "state": "activating"}\n',
        /record version 2, this agent reads 1/,
      ),
    },
    {
      name: "a deployment.json that is no record",
      code: 78,
      make: unusableRecord("[1, 2]\n", /is unusable: not a JSON object/),
    },
    {
      name: "a deployment.json it cannot read (a directory)",
      code: 78,
      make: () => {
        const { config, state } = setup();
        const record = join(state, "deployment.json");
        mkdirSync(record);
        return {
          config,
          mentions: [`cannot read the deployment record ${record}`],
          after: () => expect(readdirSync(state)).toEqual(["deployment.json"]),
        };
      },
    },
  ];
  return { setup, cases, close: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs the built agent (agent/dist/main.js) with `config` to its end: its exit code and stderr. */
export function runAgent(config: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [MAIN, "--config", config],
      { timeout: 18_000, env: { ...process.env, NOTIFY_SOCKET: "" } },
      (_err, _stdout, stderr) => done({ code: child.exitCode, stderr }),
    );
  });
}

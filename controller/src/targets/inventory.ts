import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { UserError } from "../core/errors.js";
import { MAX_LABEL_TEXT, type Selection } from "./selection.js";

/*
 * Validated by hand, not with zod: importing zod is the largest part of the
 * controller's start-up (0.6 s and 6 MB on the lab host), paid by every command.
 */
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):\d{1,5}$/;
const TARGET_KEYS = new Set([
  "address",
  "caFile",
  "certFile",
  "keyFile",
  "serverName",
  "labels",
  "relay",
  "relayName",
  "relayCaFile",
]);
/** A name at the relay: a certificate CN (as the relay routes by). */
const RELAY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Issues named in one message, and characters of a key echoed from the file. */
const MAX_ISSUES = 5;
const MAX_KEY = 100;

/** The inventory file as written: `{"targets": {NAME: {address, caFile, certFile, keyFile, serverName?, labels?}}}`. */
export interface RawInventory {
  targets: Record<
    string,
    {
      /** host:port of the agent (optional with `relay`). */
      address?: string;
      /** host:port of a relay's controller port the robot dials out to (robots behind NAT). */
      relay?: string;
      /** The robot's name at the relay (its certificate's CN); default the target's name. */
      relayName?: string;
      /** CA of the relay's server certificate; default caFile. */
      relayCaFile?: string;
      /** CA that signed the agent's server certificate. */
      caFile: string;
      /** Client certificate and key the agent trusts (mutual TLS). */
      certFile: string;
      keyFile: string;
      /** TLS name to verify instead of the host in `address` (e.g. when addressing by IP). */
      serverName?: string;
      /** Free-form labels to select targets by (`--select KEY=VALUE`). */
      labels?: Record<string, string>;
    }
  >;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const clipKey = (k: string) => (k.length > MAX_KEY ? `${k.slice(0, MAX_KEY)}…` : k);

/** Every problem as `path: message` (zod's wording, which the messages always had). */
function inventoryIssues(json: unknown): string[] {
  const issues: string[] = [];
  const add = (path: string, message: string) => issues.push(`${path}: ${message}`);
  const nonEmpty = (v: unknown, path: string, optional = false) => {
    if (v === undefined && optional) return;
    if (typeof v !== "string") add(path, `expected string, received ${v === null ? "null" : typeof v}`);
    else if (v.length === 0) add(path, "too small: expected string to have >=1 characters");
  };
  if (!isObject(json)) {
    add("(root)", "expected object");
    return issues;
  }
  for (const k of Object.keys(json)) if (k !== "targets") add("(root)", `unrecognized key: "${clipKey(k)}"`);
  if (!isObject(json.targets)) {
    add("targets", json.targets === undefined ? "expected record, received undefined" : "expected record");
    return issues;
  }
  for (const [name, t] of Object.entries(json.targets)) {
    const at = `targets.${clipKey(name)}`;
    if (name.length === 0) add("targets", "too small: expected a target name of >=1 characters");
    if (!isObject(t)) {
      add(at, "expected object");
      continue;
    }
    for (const k of Object.keys(t)) if (!TARGET_KEYS.has(k)) add(at, `unrecognized key: "${clipKey(k)}"`);
    const viaRelay = t.relay !== undefined;
    if (typeof t.address === "string" && !HOST_PORT.test(t.address))
      add(`${at}.address`, 'expected "host:port" (IPv6 as "[::1]:port")');
    else nonEmpty(t.address, `${at}.address`, viaRelay);
    if (viaRelay && (typeof t.relay !== "string" || !HOST_PORT.test(t.relay)))
      add(`${at}.relay`, 'expected "host:port" (IPv6 as "[::1]:port")');
    const relayName = t.relayName ?? (viaRelay ? name : undefined);
    if (relayName !== undefined && (typeof relayName !== "string" || !RELAY_NAME.test(relayName)))
      add(
        `${at}.relayName`,
        "expected a certificate name (letters, digits, . _ -; at most 63); set relayName",
      );
    if (!viaRelay && (t.relayName !== undefined || t.relayCaFile !== undefined))
      add(at, "relayName and relayCaFile need relay");
    nonEmpty(t.relayCaFile, `${at}.relayCaFile`, true);
    nonEmpty(t.caFile, `${at}.caFile`);
    nonEmpty(t.certFile, `${at}.certFile`);
    nonEmpty(t.keyFile, `${at}.keyFile`);
    nonEmpty(t.serverName, `${at}.serverName`, true);
    if (t.labels !== undefined) {
      if (!isObject(t.labels)) add(`${at}.labels`, "expected record");
      else
        for (const [k, v] of Object.entries(t.labels)) {
          if (k.length === 0 || k.length > MAX_LABEL_TEXT)
            add(`${at}.labels`, `a label name has 1 to ${MAX_LABEL_TEXT} characters`);
          if (typeof v !== "string" || v.length > MAX_LABEL_TEXT)
            add(`${at}.labels.${clipKey(k)}`, `expected a string of at most ${MAX_LABEL_TEXT} characters`);
        }
    }
  }
  return issues;
}

/** A target with its TLS file paths made absolute. */
export interface Target {
  readonly name: string;
  /** The agent's host:port; for a target via a relay without one, `relay NAME@host:port` (for messages). */
  readonly address: string;
  /** Reached through a relay: its controller port, the robot's name there, the relay's CA. */
  readonly relay?: { readonly address: string; readonly name: string; readonly caFile: string };
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly serverName: string | undefined;
  /** Absent when the inventory gives none. */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface Inventory {
  /** Absolute path of the inventory file (for messages). */
  readonly file: string;
  readonly targets: ReadonlyMap<string, Target>;
}

/** Validates parsed JSON; relative file paths resolve against `baseDir`. */
export function parseInventory(json: unknown, file: string): Inventory {
  const issues = inventoryIssues(json);
  if (issues.length > 0) {
    const more = issues.length > MAX_ISSUES ? `; and ${issues.length - MAX_ISSUES} more` : "";
    throw new UserError(`inventory ${file}: ${issues.slice(0, MAX_ISSUES).join("; ")}${more}`);
  }
  const baseDir = dirname(file);
  const targets = new Map<string, Target>();
  for (const [name, t] of Object.entries((json as RawInventory).targets)) {
    const relay =
      t.relay === undefined
        ? undefined
        : {
            address: t.relay,
            name: t.relayName ?? name,
            caFile: resolve(baseDir, t.relayCaFile ?? t.caFile),
          };
    targets.set(name, {
      name,
      address: t.address ?? `relay ${relay?.name}@${relay?.address}`,
      ...(relay === undefined ? {} : { relay }),
      caFile: resolve(baseDir, t.caFile),
      certFile: resolve(baseDir, t.certFile),
      keyFile: resolve(baseDir, t.keyFile),
      serverName: t.serverName,
      ...(t.labels === undefined ? {} : { labels: t.labels }),
    });
  }
  return { file, targets };
}

export async function loadInventory(path: string, cwd: string): Promise<Inventory> {
  const file = resolve(cwd, path);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new UserError(`cannot read inventory ${file}: ${describeFsError(e)}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`inventory ${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  return parseInventory(json, file);
}

export function selectTarget(inventory: Inventory, name: string): Target {
  const target = inventory.targets.get(name);
  if (target !== undefined) return target;
  const known = [...inventory.targets.keys()].sort();
  throw new UserError(
    `unknown target "${name}" in ${inventory.file}; known targets: ${known.length > 0 ? known.join(", ") : "(none)"}`,
  );
}

/** The targets a selection names: --target in the order given, else every match in inventory order. */
export function selectTargets(inventory: Inventory, selection: Selection): Target[] {
  if (selection.targets.length > 0) {
    const names = [...new Set(selection.targets)];
    return names.map((name) => selectTarget(inventory, name));
  }
  const found = [...inventory.targets.values()].filter((t) =>
    selection.select.every(({ key, value }) => t.labels?.[key] === value),
  );
  if (found.length === 0) {
    const wanted = selection.select.map(({ key, value }) => `${key}=${value}`).join(" ");
    throw new UserError(
      selection.all
        ? `no targets in ${inventory.file}`
        : `no target in ${inventory.file} has the labels ${wanted}`,
    );
  }
  return found;
}

export function describeFsError(e: unknown): string {
  if (e instanceof Error && "code" in e && typeof e.code === "string") {
    const messages: Record<string, string> = {
      ENOENT: "no such file",
      EACCES: "permission denied",
      EISDIR: "is a directory",
    };
    return messages[e.code] ?? e.code;
  }
  return String(e);
}

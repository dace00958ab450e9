import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "./core/errors.js";
import { MAX_LABEL_TEXT, type Selection } from "./core/selection.js";

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):\d{1,5}$/, 'expected "host:port" (IPv6 as "[::1]:port")');

const targetSchema = z
  .object({
    /** host:port of the agent. */
    address: hostPort,
    /** CA that signed the agent's server certificate. */
    caFile: z.string().min(1),
    /** Client certificate and key the agent trusts (mutual TLS). */
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    /** TLS name to verify instead of the host in `address` (e.g. when addressing by IP). */
    serverName: z.string().min(1).optional(),
    /** Free-form labels to select targets by (`--select KEY=VALUE`). */
    labels: z.record(z.string().min(1).max(MAX_LABEL_TEXT), z.string().max(MAX_LABEL_TEXT)).optional(),
  })
  .strict();

export const inventorySchema = z
  .object({
    targets: z.record(z.string().min(1), targetSchema),
  })
  .strict();

export type RawInventory = z.input<typeof inventorySchema>;

/** A target with its TLS file paths made absolute. */
export interface Target {
  readonly name: string;
  readonly address: string;
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
  const parsed = inventorySchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`)
      .join("; ");
    throw new UserError(`inventory ${file}: ${issues}`);
  }
  const baseDir = dirname(file);
  const targets = new Map<string, Target>();
  for (const [name, t] of Object.entries(parsed.data.targets)) {
    targets.set(name, {
      name,
      address: t.address,
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

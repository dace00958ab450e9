// Shared by the data tests: a deployer lab with systems that migrate (well, failing, too slowly),
// a rig whose deployments own a real directory, and a byte digest of a tree.
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { DeployerLab, type Rig, type RigOptions, SELF, until } from "../../testing/deployer-rig.js";

const MIGRATE = `#!/bin/sh\nset -e\necho 2 > "$RR_TEST_DATA/schema"\necho migrated >> "$RR_TEST_DATA/rows"\n`;

/** Sets the lab up with v2 (migrates), v2-failing (migration exits 3) and v2-slow (sleeps 30 s). */
async function setupDataLab(lab: DeployerLab): Promise<void> {
  await lab.setup();
  lab.addSystem("v2", { "ros-rollback/migrate": MIGRATE });
  lab.addSystem("v2-failing", { "ros-rollback/migrate": `${MIGRATE}echo 'column exists' >&2\nexit 3\n` });
  lab.addSystem("v2-slow", { "ros-rollback/migrate": "#!/bin/sh\nexec sleep 30\n" });
}

/** Every file under dir with its mode and bytes: equal digests mean byte-identical trees. */
export async function digest(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p, `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}:${(await readFile(p)).toString("base64")}`);
    }
  };
  await walk(dir, "");
  return out;
}

export interface DataRig extends Rig {
  db: string;
}

/** A rig whose deployments capture `db` (schema 1, two rows, a binary table), written by db.service. */
async function makeDataRig(lab: DeployerLab, name: string, o: RigOptions = {}): Promise<DataRig> {
  const r0 = await lab.rig(name, { data: [], ...o });
  const db = join(r0.stateDir, "..", "db");
  await mkdir(join(db, "tables"), { recursive: true });
  await writeFile(join(db, "schema"), "1\n");
  await writeFile(join(db, "rows"), "a\nb\n");
  await writeFile(join(db, "tables", "t1"), Buffer.from([0, 1, 2, 255]));
  process.env.RR_TEST_DATA = db;
  const r = await lab.rig(name, { data: [{ path: db, units: ["db.service"] }], ...o });
  return { ...r, db };
}

/** The lab for a test file, set up before its tests and torn down after; `dataRig` makes a DataRig in it. */
export function useDataLab() {
  const lab = new DeployerLab();
  beforeAll(() => setupDataLab(lab));
  afterAll(() => lab.teardown());
  return {
    lab,
    sys: (n: string) => lab.sys(n),
    dataRig: (name: string, o: RigOptions = {}) => makeDataRig(lab, name, o),
  };
}

/** Switches to path, self-confirming, and waits for the record to be final. */
export const run = async (r: Rig, path: string) =>
  until(r.deployer, (await r.deployer.activate(path, "switch", SELF)).id, undefined, 30_000);

/** The states deployment id passed through, each once. */
export const states = (r: Rig, id: string) =>
  r.seen
    .filter((x) => x.id === id)
    .map((x) => x.state)
    .filter((s, i, a) => s !== a[i - 1]);

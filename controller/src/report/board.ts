import { terminalText } from "@ros-rollback/nix-core";
import type { CommandContext } from "../context/command.js";

type Column = "phase" | "transfer" | "health" | "outcome";

interface Row {
  readonly robot: string;
  cells: Record<Column, string>;
}

const HEADERS: readonly [string, ...Column[]] = ["robot", "phase", "transfer", "health", "outcome"];
const OUTCOME =
  /^(succeeded|failed|uncertain|skipped|skipped \((?:held|offline)\)|not-started|rolled back on abort): ?/;
/** Redraws at most this often; lines that scroll above the table are never held back longer. */
const REDRAW_MS = 100;

/**
 * A rollout's live table on a TTY: one row per robot (phase, transfer
 * progress, health, outcome), redrawn in place under the rollout's own
 * lines. It is a view of the same lines a non-TTY run prints: every
 * `name: …` line of a robot fills that robot's row; any other line scrolls
 * above the table. So both outputs say the same thing.
 */
export class RolloutBoard {
  private readonly rows = new Map<string, Row>();
  private pending = "";
  private scrolled: string[] = [];
  private drawn = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly sink: { write(text: string): void },
    robots: readonly string[],
    private readonly columns: number,
  ) {
    for (const robot of robots) {
      this.rows.set(robot, { robot, cells: { phase: "waiting", transfer: "", health: "", outcome: "" } });
    }
  }

  /** Takes stderr text as the commands write it (whole or partial lines). */
  write(text: string): void {
    this.pending += text;
    let nl = this.pending.indexOf("\n");
    while (nl >= 0) {
      this.line(this.pending.slice(0, nl));
      this.pending = this.pending.slice(nl + 1);
      nl = this.pending.indexOf("\n");
    }
    this.schedule();
  }

  /** Draws the final table; later writes pass straight through. */
  close(): void {
    if (this.closed) return;
    if (this.pending !== "") this.line(this.pending);
    this.pending = "";
    clearTimeout(this.timer);
    this.redraw();
    this.closed = true;
  }

  /** The table as plain text (what the last redraw showed, without the cursor moves). */
  table(): string[] {
    const rows = [...this.rows.values()].map((r) => [
      r.robot,
      ...HEADERS.slice(1).map((c) => r.cells[c as Column]),
    ]);
    const all = [[...HEADERS], ...rows];
    const widths = HEADERS.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
    // Phase, transfer and health shrink to fit the terminal; robot and outcome keep their width.
    const budget = Math.max(20, this.columns - 1);
    const fixed = (widths[0] ?? 0) + (widths[4] ?? 0) + 8;
    const room = Math.max(9, Math.floor((budget - fixed) / 3));
    const fit = widths.map((w, i) => (i === 0 || i === 4 ? w : Math.min(w, room)));
    return all.map((r) =>
      r
        .map((cell, i) => fitCell(cell, fit[i] ?? 0))
        .join("  ")
        .trimEnd()
        .slice(0, budget),
    );
  }

  private line(raw: string): void {
    // Lines carry what robots said: no escape sequence of theirs reaches the terminal.
    const text = terminalText(raw);
    const colon = text.indexOf(": ");
    const row = colon > 0 ? this.rows.get(text.slice(0, colon)) : undefined;
    if (this.closed) {
      this.sink.write(`${text}\n`);
      return;
    }
    if (row === undefined) {
      this.scrolled.push(text);
      return;
    }
    const rest = text.slice(colon + 2);
    if (rest.startsWith("push")) row.cells.transfer = rest.replace(/^push:?\s*/, "");
    else if (/^\S+ health /.test(rest)) row.cells.health = rest.replace(/^\S+ health /, "");
    else if (OUTCOME.test(rest)) row.cells.outcome = rest.replace(/^rolled back on abort: /, "back: ");
    else if (!rest.startsWith("error: ")) row.cells.phase = rest;
    else this.scrolled.push(text);
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.scrolled.length > 0) {
      this.redraw();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.redraw();
    }, REDRAW_MS);
  }

  private redraw(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    // Up to the table's first line, clear to the end of the screen, then lines, then the table.
    let out = this.drawn > 0 ? `\x1b[${this.drawn}A\r\x1b[J` : "";
    for (const l of this.scrolled) out += `${l}\n`;
    this.scrolled = [];
    const table = this.table();
    out += `${table.join("\n")}\n`;
    this.drawn = table.length;
    this.sink.write(out);
  }
}

function fitCell(text: string, width: number): string {
  const t = text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
  return t.padEnd(width);
}

/**
 * The context a rollout runs in: on a TTY its stderr
 * is a live table; otherwise the context itself (one line per change).
 */
export function boardContext(
  ctx: CommandContext,
  robots: readonly string[],
): { ctx: CommandContext; close: () => void } {
  if (!ctx.io.stderr.isTTY) return { ctx, close: () => undefined };
  const board = new RolloutBoard(ctx.io.stderr, robots, ctx.io.stderr.columns);
  const stderr = { write: (t: string) => board.write(t), isTTY: true, columns: ctx.io.stderr.columns };
  return {
    ctx: {
      io: { ...ctx.io, stderr },
      global: ctx.global,
      selection: ctx.selection,
      deps: ctx.deps,
      signal: ctx.signal,
      log: (line) => board.write(`${line}\n`),
      connect: (o) => ctx.connect(o),
      selectTargets: (o) => ctx.selectTargets(o),
    },
    close: () => board.close(),
  };
}

/** Runs a rollout's body in `boardContext`, closing the table however it ends. */
export async function withBoard<T>(
  ctx: CommandContext,
  robots: readonly string[],
  run: (ctx: CommandContext) => Promise<T>,
): Promise<T> {
  const board = boardContext(ctx, robots);
  try {
    return await run(board.ctx);
  } finally {
    board.close();
  }
}

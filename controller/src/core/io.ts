/** The process as the commands see it; cli.ts passes the real one, tests a recording one. */
export interface Io {
  readonly stdout: { write(text: string): void };
  readonly stderr: { write(text: string): void; readonly isTTY: boolean; readonly columns: number };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Milliseconds since the epoch (Date.now in production). */
  readonly now: () => number;
}

/**
 * Exit codes of `ros-rollback`. Each one is a statement about the ROBOT, so a
 * script driving a fleet can decide whether to go on, stop, or page a human.
 * Documented in `--help` (help.ts) and controller/README.md; keep all three in sync.
 */
export const ExitCode = {
  /** The command did what was asked. */
  Ok: 0,
  /** Usage error, unreachable agent, or a refused/failed request: nothing changed on the robot. */
  Unchanged: 1,
  /** The deployment failed and the robot is back on the previous generation. */
  RolledBack: 2,
  /** The robot's state is uncertain (failed and left in place, stream broke, interrupted). Look at it. */
  Uncertain: 3,
  /** Installed as the boot default, but the running system is unchanged until a reboot. */
  RebootRequired: 4,
  /** `health`: the agent answered and at least one health check fails (nothing was changed). */
  Unhealthy: 5,
  /**
   * Several robots: it succeeded on every robot it ran on, but some were
   * skipped (unreachable or refusing; the report says why).
   */
  Skipped: 6,
  /** A bug in ros-rollback itself (EX_SOFTWARE); the stack trace is on stderr. */
  Bug: 70,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A failure the user can act on: printed as one line `error: <message>`, no
 * stack. Anything thrown that is NOT a UserError is a bug (exit 70, stack).
 */
export class UserError extends Error {
  readonly exitCode: ExitCode;
  /** Extra fields for the JSON error document (e.g. target, gRPC status). */
  readonly data: Readonly<Record<string, unknown>>;

  constructor(
    message: string,
    options?: { exitCode?: ExitCode; cause?: unknown; data?: Readonly<Record<string, unknown>> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UserError";
    this.exitCode = options?.exitCode ?? ExitCode.Unchanged;
    this.data = options?.data ?? {};
  }
}

/** The abort reason on SIGINT. Commands that change the robot catch it and say what state it is in. */
export class InterruptedError extends UserError {
  constructor() {
    super("interrupted; nothing was changed on the robot", { exitCode: ExitCode.Unchanged });
    this.name = "InterruptedError";
  }
}

/** Bad command line; the renderer adds a pointer to `--help`. */
export class UsageError extends UserError {
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message, { exitCode: ExitCode.Unchanged });
    this.name = "UsageError";
    this.command = command;
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

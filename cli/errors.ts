/**
 * What the CLI's exit code says (issue 10): 0 the command did what was asked and the run, if it
 * waited for one, completed; 2 the run it waited for ended blocked, failed or cancelled; 1 the
 * command could not do its job (bad arguments, no login, the API refused, the network failed).
 */
export const exitCodes = { ok: 0, error: 1, runNotCompleted: 2 } as const;
export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

/** A failure the user can act on; its message goes to stderr as is (exit 1). */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly code = 'cli_error',
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The command line itself is wrong (a missing argument, an unreadable file). */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string, field?: string) {
    super(message, 'usage_error', field);
  }
}

/** The API could not be reached, or answered something that is not the API's JSON. */
export class TransportError extends CliError {
  override name = 'TransportError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'transport_error');
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

import { BatonApiError } from '#sdk';
import { CliError } from './errors';

/** Where a command writes, and how: chosen once per invocation from `--json` and the terminal. */
export interface Terminal {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
}

export interface Output {
  /** `--json`: one JSON document per command (JSON lines for watch and follow). */
  readonly json: boolean;
  /** Redrawn lines only on an interactive terminal, and never in JSON mode. */
  readonly interactive: boolean;
  /** Colour too, unless NO_COLOR is set. */
  readonly color: boolean;
  /** The terminal's width, for lines that must not wrap (80 when unknown). */
  readonly columns: number;
  /** Human lines on stdout (nothing in JSON mode). */
  say(...lines: string[]): void;
  /** The command's result: `human` lines normally, `data` as one pretty JSON document with `--json`. */
  result(data: unknown, human: string | string[]): void;
  /** One JSON line (watch, follow) in JSON mode; nothing otherwise. */
  jsonLine(data: unknown): void;
  /** A note on stderr (both modes): progress the user should see but a script should not parse. */
  note(line: string): void;
  /** The failure on stderr: a sentence, or `{"error": {...}}` with `--json`. */
  error(error: unknown): void;
}

export function createOutput(terminal: Terminal, { json, color = true }: { json: boolean; color?: boolean }): Output {
  const write = (stream: NodeJS.WritableStream, text: string) => stream.write(text.endsWith('\n') ? text : `${text}\n`);
  const interactive = !json && terminal.stdout.isTTY === true;
  return {
    json,
    interactive,
    color: interactive && color,
    columns: terminal.stdout.columns && terminal.stdout.columns > 20 ? terminal.stdout.columns : 80,
    say: (...lines) => {
      if (!json) for (const line of lines) write(terminal.stdout, line);
    },
    result: (data, human) => {
      if (json) write(terminal.stdout, JSON.stringify(data, null, 2));
      else for (const line of Array.isArray(human) ? human : [human]) write(terminal.stdout, line);
    },
    jsonLine: (data) => {
      if (json) write(terminal.stdout, JSON.stringify(data));
    },
    note: (line) => write(terminal.stderr, line),
    error: (error) => {
      const described = describeError(error);
      if (json) write(terminal.stderr, JSON.stringify({ error: described }));
      else {
        write(terminal.stderr, `Error: ${described.message}${described.field ? ` (field ${described.field})` : ''}${described.status ? ` [HTTP ${described.status} ${described.code}${described.requestId ? `, request ${described.requestId}` : ''}]` : ''}`);
        if (described.status === 401) write(terminal.stderr, 'The token was refused: log in again with `baton login --url <api url> --token <token>`, or check BATON_TOKEN.');
      }
    },
  };
}

export interface DescribedError {
  code: string;
  message: string;
  field?: string;
  status?: number;
  requestId?: string;
}

/** What the user is told about a failure: the API's own words when it answered, never a stack. */
export function describeError(error: unknown): DescribedError {
  if (error instanceof BatonApiError) {
    return { code: error.code, message: apiMessage(error), ...(error.field ? { field: error.field } : {}), status: error.status, ...(error.requestId ? { requestId: error.requestId } : {}) };
  }
  if (error instanceof CliError) return { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) };
  return { code: 'internal_error', message: error instanceof Error ? error.message : String(error) };
}

/** The API's own sentence: the SDK appends status, code, field and request id, which are shown apart. */
const apiMessage = (error: BatonApiError) => error.message.replace(/ \(\d{3} [^()]*\)$/, '');

import { MultiBar, type SingleBar } from 'cli-progress';
import { approvalHint, describeWaiting, formatDuration, listNames, progressLine, summaryLines, type RunProgress } from './format';
import type { Output, Terminal } from './output';

/** How `run watch` shows a run as it moves, and what it leaves behind when it stops. */
export interface ProgressDisplay {
  update(progress: RunProgress): void;
  /** The run stopped moving (completed, blocked, failed, cancelled): the summary. */
  finish(progress: RunProgress): void;
  /** Watching stopped early (Ctrl-C, an error): leave the terminal clean. */
  abort(): void;
}

/** The display that fits the output: a live bar on a terminal, plain lines in a log, JSON lines with --json. */
export function createProgressDisplay(output: Output, terminal: Terminal, { now = Date.now, heartbeatMs = 30_000 } = {}): ProgressDisplay {
  if (output.json) return jsonDisplay(output);
  if (output.interactive) return barDisplay(output, terminal);
  return lineDisplay(output, { now, heartbeatMs });
}

function jsonDisplay(output: Output): ProgressDisplay {
  let last = '';
  return {
    update(progress) {
      const line = JSON.stringify({ type: 'progress', ...withoutCost(progress) });
      if (line !== last) output.jsonLine(JSON.parse(line));
      last = line;
    },
    finish: (progress) => output.jsonLine({ type: 'summary', ...progress }),
    abort: () => {},
  };
}

/** Elapsed time changes every poll: leave it out when deciding whether anything else did. */
const withoutCost = ({ cost: _cost, elapsedMs, ...rest }: RunProgress) => ({ ...rest, elapsedSeconds: Math.floor(elapsedMs / 1000) });
const changeKey = ({ cost: _cost, elapsedMs: _elapsed, ...rest }: RunProgress) => JSON.stringify(rest);

/** CI logs: one line whenever something changed, and a heartbeat line when nothing did for a while. */
function lineDisplay(output: Output, { now, heartbeatMs }: { now: () => number; heartbeatMs: number }): ProgressDisplay {
  let lastKey = '';
  let lastAt = 0;
  let headerShown = false;
  let lastHint: string | undefined;
  return {
    update(progress) {
      if (!headerShown) {
        output.say(`Watching run ${progress.runId} (${progress.workflow} v${progress.version}, ${progress.total} steps)`);
        headerShown = true;
      }
      const key = changeKey(progress);
      if (key === lastKey && now() - lastAt < heartbeatMs) return;
      output.say(progressLine(progress));
      // Said once per waiting approval, not on every line: the log stays readable.
      const hint = approvalHint(progress);
      if (hint && hint.command !== lastHint) output.say(`  ${hint.step} waits for approval: ${hint.command} (or reject)`);
      lastHint = hint?.command;
      lastKey = key;
      lastAt = now();
    },
    finish: (progress) => output.say(...summaryLines(progress)),
    abort: () => {},
  };
}

/** A terminal: a redrawn bar with done/total, status and elapsed time, then what runs and what waits. */
function barDisplay(output: Output, terminal: Terminal): ProgressDisplay {
  const multibar = new MultiBar(
    {
      stream: terminal.stdout,
      hideCursor: true,
      clearOnComplete: true,
      // Lines longer than the terminal are cut, never wrapped (a wrapped line breaks the redraw).
      linewrap: false,
      barsize: 24,
      fps: 10,
      forceRedraw: true,
      emptyOnZero: true,
    },
    { format: '', barCompleteChar: '█', barIncompleteChar: '░' },
  );
  let bars: { main: SingleBar; running: SingleBar; waiting: SingleBar; hint: SingleBar } | undefined;
  const payloads = (progress: RunProgress) => {
    const columns = output.columns;
    // Names get what is left of the line once the label is written.
    const names = (label: string, items: string[]) => fit(label, items, columns);
    const approval = approvalHint(progress);
    return {
      main: { status: progress.status, elapsed: formatDuration(progress.elapsedMs), workflow: `${progress.workflow} v${progress.version}` },
      running: { line: names('Running:', progress.running) },
      waiting: { line: names('Waiting:', progress.waiting.map(describeWaiting)) },
      hint: { line: approval ? `Approve: ${approval.command}` : '' },
    };
  };
  return {
    update(progress) {
      const payload = payloads(progress);
      if (!bars) {
        output.say(`Watching run ${progress.runId} (${progress.workflow} v${progress.version}, ${progress.total} steps)`, 'Ctrl-C stops watching; the run goes on.');
        bars = {
          main: multibar.create(progress.total, progress.done, payload.main, { format: ' {bar} {value}/{total} steps  {percentage}%  {status}  {elapsed}' }),
          running: multibar.create(1, 0, payload.running, { format: ' {line}' }),
          waiting: multibar.create(1, 0, payload.waiting, { format: ' {line}' }),
          hint: multibar.create(1, 0, payload.hint, { format: ' {line}' }),
        };
        return;
      }
      bars.main.setTotal(progress.total);
      bars.main.update(progress.done, payload.main);
      bars.running.update(0, payload.running);
      bars.waiting.update(0, payload.waiting);
      bars.hint.update(0, payload.hint);
    },
    finish(progress) {
      multibar.stop();
      const [headline = '', ...rest] = summaryLines(progress);
      output.say(output.color ? paint(progress.status, headline) : headline, ...rest);
    },
    abort: () => multibar.stop(),
  };
}

/** `Running: a, b (+3 more)`, with as many names as fit in `columns`. */
function fit(label: string, items: string[], columns: number): string {
  if (items.length === 0) return `${label} none`;
  for (let shown = items.length; shown >= 1; shown -= 1) {
    const line = `${label} ${listNames(items, shown)}`;
    if (line.length <= columns - 2) return line;
  }
  return `${label} ${listNames(items, 1)}`;
}

/** The summary's first line in the colour of how the run ended: green, yellow (cancelled) or red. */
function paint(status: RunProgress['status'], text: string): string {
  const colour = status === 'completed' ? 32 : status === 'cancelled' ? 33 : 31;
  return `\u001b[${colour}m${text}\u001b[39m`;
}

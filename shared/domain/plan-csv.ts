import { CsvError, parse } from 'csv-parse/sync';
import { analyzeDag, DagError } from '#shared/domain/dag';
import { ValidationError } from '#shared/domain/errors';
import { maxStepsPerWorkflow, stepSpec, type StepSpec } from '#shared/domain/workflow';

/**
 * The plan CSV import (DESIGN §6): one step per row, `Dependencies (Day #)` as edges, `Done` rows
 * already complete, `Date` optionally gating the step. Every refusal names the row as a
 * spreadsheet shows it: the header is row 1, the first plan row is row 2.
 */

export interface PlanCsvOptions {
  /** Gate each step on its Date: not dispatched before that day at 00:00 UTC. */
  dateGating?: boolean;
  /** Executor kind of every step; `noop` by default. */
  kind?: string;
  /** Workflow name; `Imported plan` by default. */
  name?: string;
}

export interface ImportedPlan {
  name: string;
  steps: StepSpec[];
}

/** The columns a plan must have, keyed by the name the code uses. */
const planColumns = {
  day: 'Day',
  date: 'Date',
  theme: 'Theme',
  votName: 'VOT Name',
  deliverable: 'Primary Deliverable',
  metricsTemplate: 'Key Metrics (template)',
  status: 'Status',
  dependencies: 'Dependencies (Day #)',
} as const;
type PlanColumn = keyof typeof planColumns;
type ColumnIndexes = Record<PlanColumn, number>;

/** One plan row read into named cells, with the row number the user sees. */
interface PlanRow {
  row: number;
  cells: Record<PlanColumn, string>;
}

const defaultName = 'Imported plan';
const dayPattern = /^\d{1,9}$/;
const datePattern = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Parses a plan CSV into a workflow's steps; throws ValidationError naming the row at fault. */
export const parsePlanCsv = (text: string, options: PlanCsvOptions = {}): ImportedPlan => {
  const kind = checkedKind(options.kind ?? 'noop');
  const records = readRecords(text);
  const [header, ...rest] = records;
  if (!header || isBlank(header)) throw new ValidationError('the plan is empty: expected a header row and one row per day', 'body');

  const columns = locateColumns(header);
  const rows = rest.flatMap((record, index) => (isBlank(record) ? [] : [toPlanRow(record, index + 2, header.length, columns)]));
  if (rows.length === 0) throw new ValidationError('the plan has a header but no rows: add one row per day', 'body');
  if (rows.length > maxStepsPerWorkflow) {
    const first = rows[maxStepsPerWorkflow]!.row;
    throw new ValidationError(`row ${first}: the plan has ${rows.length} rows; a workflow holds at most ${maxStepsPerWorkflow} steps`, `body.row[${first}]`);
  }

  const rowByDay = indexDays(rows);
  const steps = rows.map((row) => toStep(row, rowByDay, kind, options.dateGating === true));
  checkAcyclic(steps, rows);
  return { name: options.name ?? defaultName, steps };
};

/** The step id of a plan day. */
export const dayStepId = (day: number): string => `day-${day}`;

const checkedKind = (kind: string): string => {
  const result = stepSpec.shape.kind.safeParse(kind);
  if (!result.success) throw new ValidationError(`kind "${kind}" ${result.error.issues[0]?.message ?? 'is not valid'}`, 'kind');
  return result.data;
};

const readRecords = (text: string): string[][] => {
  try {
    // Blank lines are kept (and skipped later) so that record index + 1 is the row the user sees.
    return parse(text, { bom: true, trim: true, relax_column_count: true, skip_empty_lines: false });
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    const row = typeof error.records === 'number' ? error.records + 1 : undefined;
    const where = row === undefined ? '' : `row ${row}: `;
    throw new ValidationError(`${where}the CSV could not be read (${error.message})`, row === undefined ? 'body' : `body.row[${row}]`);
  }
};

const isBlank = (record: readonly string[]): boolean => record.every((cell) => cell === '');

/** Header names compared without case or repeated spaces: spreadsheets vary in both. */
const normalizeHeader = (name: string): string => name.trim().replace(/\s+/g, ' ').toLowerCase();

const locateColumns = (header: readonly string[]): ColumnIndexes => {
  const normalized = header.map(normalizeHeader);
  const entries = Object.entries(planColumns) as [PlanColumn, string][];
  const missing = entries.filter(([, name]) => !normalized.includes(normalizeHeader(name))).map(([, name]) => `"${name}"`);
  if (missing.length > 0) {
    throw new ValidationError(`row 1: the header is missing ${missing.join(', ')}; expected ${Object.values(planColumns).join(', ')}`, 'body.row[1]');
  }
  const repeated = entries.find(([, name]) => normalized.filter((cell) => cell === normalizeHeader(name)).length > 1);
  if (repeated) throw new ValidationError(`row 1: the header has "${repeated[1]}" more than once`, 'body.row[1]');
  return Object.fromEntries(entries.map(([key, name]) => [key, normalized.indexOf(normalizeHeader(name))])) as ColumnIndexes;
};

const toPlanRow = (record: readonly string[], row: number, width: number, columns: ColumnIndexes): PlanRow => {
  if (record.length !== width) {
    throw new ValidationError(`row ${row}: has ${record.length} columns, but the header has ${width}`, `body.row[${row}]`);
  }
  const cells = Object.fromEntries(Object.entries(columns).map(([key, index]) => [key, record[index] ?? ''])) as PlanRow['cells'];
  return { row, cells };
};

const rowError = (row: number, column: string, message: string): ValidationError =>
  new ValidationError(`row ${row}: ${message}`, `body.row[${row}].${column}`);

/** Map of day number to row, refusing malformed and repeated days. */
const indexDays = (rows: readonly PlanRow[]): Map<number, PlanRow> => {
  const rowByDay = new Map<number, PlanRow>();
  for (const planRow of rows) {
    const day = parseDay(planRow);
    const earlier = rowByDay.get(day);
    if (earlier) throw rowError(planRow.row, 'Day', `day ${day} is already used by row ${earlier.row}`);
    rowByDay.set(day, planRow);
  }
  return rowByDay;
};

const parseDay = ({ row, cells }: PlanRow): number => {
  const day = Number(cells.day);
  if (!dayPattern.test(cells.day) || day < 1) throw rowError(row, 'Day', `Day "${cells.day}" must be a whole number of 1 or more`);
  return day;
};

const toStep = ({ row, cells }: PlanRow, rowByDay: ReadonlyMap<number, PlanRow>, kind: string, dateGating: boolean): StepSpec => {
  const day = Number(cells.day);
  checkDate(row, cells.date, dateGating);
  const step: StepSpec = {
    id: dayStepId(day),
    kind,
    input: {
      day,
      date: cells.date,
      theme: cells.theme,
      votName: cells.votName,
      deliverable: cells.deliverable,
      metricsTemplate: cells.metricsTemplate,
      status: cells.status,
    },
    dependsOn: parseDependencies(row, day, cells.dependencies, rowByDay).map(dayStepId),
    labels: {
      day: cells.day,
      date: cells.date,
      theme: cells.theme,
      votName: cells.votName,
      deliverable: cells.deliverable,
      metricsTemplate: cells.metricsTemplate,
      status: cells.status,
    },
  };
  if (cells.status.toLowerCase() === 'done') step.done = true;
  if (dateGating) step.notBefore = `${cells.date}T00:00:00Z`;
  return step;
};

/** A Date must be a real calendar day; it may only be left empty when it gates nothing. */
const checkDate = (row: number, date: string, dateGating: boolean): void => {
  if (date === '' && !dateGating) return;
  if (date === '') throw rowError(row, 'Date', 'Date is empty, but the import gates steps on their date (YYYY-MM-DD)');
  if (!isCalendarDate(date)) throw rowError(row, 'Date', `Date "${date}" is not a date of the form YYYY-MM-DD`);
};

const isCalendarDate = (date: string): boolean => {
  const match = datePattern.exec(date);
  if (!match) return false;
  const [year, month, day] = match.slice(1).map(Number) as [number, number, number];
  const parsed = new Date(Date.UTC(year, month - 1, day));
  // Date.UTC rolls 2027-02-30 over to March: a real date survives the round trip unchanged.
  return parsed.getUTCFullYear() === year && parsed.getUTCMonth() === month - 1 && parsed.getUTCDate() === day;
};

/**
 * Day numbers separated by commas, semicolons or spaces. A day listed twice is kept once: the
 * meaning is unchanged and spreadsheets make such slips easy.
 */
const parseDependencies = (row: number, day: number, cell: string, rowByDay: ReadonlyMap<number, PlanRow>): number[] => {
  const tokens = cell.split(/[\s,;]+/).filter((token) => token !== '');
  const days = new Set<number>();
  for (const token of tokens) {
    if (!dayPattern.test(token)) throw rowError(row, 'Dependencies', `Dependencies "${cell}" holds "${token}", which is not a day number`);
    const dependency = Number(token);
    if (dependency === day) throw rowError(row, 'Dependencies', `day ${day} depends on itself`);
    if (!rowByDay.has(dependency)) throw rowError(row, 'Dependencies', `depends on day ${dependency}, which is not in the plan`);
    days.add(dependency);
  }
  return [...days];
};

/** Refuses a cycle, naming its rows and days rather than the step ids the user never typed. */
const checkAcyclic = (steps: readonly StepSpec[], rows: readonly PlanRow[]): void => {
  try {
    analyzeDag(steps);
  } catch (error) {
    if (!(error instanceof DagError) || error.problem.kind !== 'cycle') throw error;
    const rowById = new Map(steps.map((step, index) => [step.id, rows[index]]));
    const cycleRows = error.problem.cycle.map((id) => rowById.get(id)).filter((row) => row !== undefined);
    const days = [...cycleRows, cycleRows[0]].map((row) => Number(row?.cells.day));
    const rowNumbers = cycleRows.map((row) => row.row).sort((a, b) => a - b);
    throw new ValidationError(
      `cycle between rows ${rowNumbers.join(', ')} (days ${days.join(' → ')}): each day waits for the one before it, so none can start`,
      `body.row[${rowNumbers[0]}].Dependencies`,
    );
  }
};

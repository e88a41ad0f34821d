import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analyzeDag } from '#shared/domain/dag';
import { ValidationError } from '#shared/domain/errors';
import { parsePlanCsv, type PlanCsvOptions } from '#shared/domain/plan-csv';
import { stepSpec, workflowBody } from '#shared/domain/workflow';
import { generatedDependencies, generatePlanCsv, planHeader } from '#test/helpers/plan';

const samplePlan = readFileSync(new URL('../../fixtures/plan-sample.csv', import.meta.url), 'utf8');

/** A plan of the given data lines under the standard header. */
const plan = (...lines: string[]): string => [planHeader, ...lines].join('\n');

/** A well-formed data line for `day`, waiting for `dependencies`. */
const line = (day: number | string, dependencies = '', date = `2027-03-${String(day).padStart(2, '0')}`): string =>
  `${day},${date},Build,Builder,Deliverable ${day},tokens={tokens},Open,${dependencies}`;

/** The ValidationError parsePlanCsv throws for this text (fails the test when it accepts it). */
const refusal = (text: string, options?: PlanCsvOptions): ValidationError => {
  try {
    parsePlanCsv(text, options);
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected the plan to be refused');
};

describe('parsePlanCsv', () => {
  it('turns the sample plan into eight steps with their dependencies, day 1 already done', () => {
    // Act
    const { name, steps } = parsePlanCsv(samplePlan);

    // Assess
    expect(name).toBe('Imported plan');
    expect(steps.map((step) => step.id)).toEqual(['day-1', 'day-2', 'day-3', 'day-4', 'day-5', 'day-6', 'day-7', 'day-8']);
    expect(Object.fromEntries(steps.map((step) => [step.id, step.dependsOn]))).toEqual({
      'day-1': [],
      'day-2': ['day-1'],
      'day-3': ['day-1'],
      'day-4': ['day-2', 'day-3'],
      'day-5': ['day-4'],
      'day-6': ['day-5'],
      'day-7': ['day-2', 'day-5'],
      'day-8': ['day-6', 'day-7'],
    });
    expect(steps.filter((step) => step.done).map((step) => step.id)).toEqual(['day-1']);
    expect(steps.every((step) => step.kind === 'noop' && step.notBefore === undefined)).toBe(true);
  });

  it('carries every cell of a row into the step input and labels, quotes unescaped', () => {
    const { steps } = parsePlanCsv(samplePlan);

    expect(steps[5]).toMatchObject({
      input: {
        day: 6,
        date: '2027-03-06',
        theme: 'Review',
        votName: 'Reviewer',
        deliverable: 'Review notes "round 1"',
        metricsTemplate: 'tokens={tokens}',
        status: 'Open',
      },
      labels: { day: '6', theme: 'Review', votName: 'Reviewer', deliverable: 'Review notes "round 1"', status: 'Open' },
    });
    expect(steps[1]?.labels?.deliverable).toBe('Survey of prior work, with links');
  });

  it('produces steps and a workflow the API schema accepts', () => {
    const imported = parsePlanCsv(samplePlan, { dateGating: true, kind: 'http', name: 'Launch plan' });

    expect(workflowBody.parse(imported)).toEqual(imported);
    for (const step of imported.steps) expect(stepSpec.parse(step)).toEqual(step);
  });

  it('gates each step on its date when asked', () => {
    const { steps } = parsePlanCsv(samplePlan, { dateGating: true, kind: 'llm' });

    expect(steps[0]).toMatchObject({ kind: 'llm', notBefore: '2027-03-01T00:00:00Z' });
    expect(steps[7]?.notBefore).toBe('2027-03-08T00:00:00Z');
  });

  it('reads a file saved by a spreadsheet: BOM, CRLF, padded and differently cased headers, blank lines', () => {
    // Prepare
    const text = `\uFEFF day , DATE,theme,Vot  Name,primary deliverable,KEY METRICS (TEMPLATE),status, dependencies (day #)\r\n${line(1)}\r\n\r\n${line(2, '"1"')}\r\n`;

    // Act
    const { steps } = parsePlanCsv(text);

    // Assess
    expect(steps.map((step) => [step.id, step.dependsOn])).toEqual([
      ['day-1', []],
      ['day-2', ['day-1']],
    ]);
  });

  it('parses a generated year-long plan into a DAG', () => {
    // Act
    const { steps } = parsePlanCsv(generatePlanCsv(365), { dateGating: true });

    // Assess
    expect(steps).toHaveLength(365);
    expect(steps[364]).toMatchObject({ id: 'day-365', notBefore: '2027-12-31T00:00:00Z' });
    expect(steps[363]?.dependsOn).toEqual(generatedDependencies(364).map((day) => `day-${day}`));
    expect(steps.filter((step) => step.dependsOn.length > 1).length).toBeGreaterThan(50);
    expect(analyzeDag(steps).order).toHaveLength(365);
  });

  it('accepts a plan of exactly the workflow limit and refuses a longer one', () => {
    expect(parsePlanCsv(generatePlanCsv(10_000)).steps).toHaveLength(10_000);

    const error = refusal(generatePlanCsv(10_001));
    // The first row past the limit is named (the header is row 1, so day 10,001 is row 10,002).
    expect(error.message).toBe('row 10002: the plan has 10001 rows; a workflow holds at most 10000 steps');
    expect(error.field).toBe('body.row[10002]');
  });

  it('refuses a cycle, naming its rows and days', () => {
    const error = refusal(generatePlanCsv(10, { cycle: true }));

    expect(error.message).toMatch(/^cycle between rows 4, 5, 6 \(days (3 → 4 → 5 → 3)\)/);
    expect(error.field).toBe('body.row[4].Dependencies');
  });

  it('names rows by where they are in the file, counting blank lines', () => {
    const error = refusal(plan(line(1), '', line(2, '3'), line(3, '4'), line(4, '2')));

    expect(error.message).toMatch(/^cycle between rows 4, 5, 6 \(days 2 → 4 → 3 → 2\)/);
  });

  it('refuses a dependency on a day that is not in the plan, naming the row', () => {
    const error = refusal(plan(line(1), line(2, '1'), line(3, '2'), line(4, '"2; 12"')));

    expect(error).toMatchObject({ message: 'row 5: depends on day 12, which is not in the plan', field: 'body.row[5].Dependencies', status: 400 });
  });

  it('accepts dependencies declared before the day they point to, and any separator', () => {
    const { steps } = parsePlanCsv(plan(line(1, '"4;  3,2"'), line(2), line(3, '2 4'), line(4)));

    expect(steps[0]?.dependsOn).toEqual(['day-4', 'day-3', 'day-2']);
    expect(steps[2]?.dependsOn).toEqual(['day-2', 'day-4']);
  });

  it.each([
    ['a day that is not a whole number', plan(line(1), line('2.5')), 'row 3: Day "2.5" must be a whole number of 1 or more', 'body.row[3].Day'],
    ['an empty day', plan(line(1), line('')), 'row 3: Day "" must be a whole number of 1 or more', 'body.row[3].Day'],
    ['a repeated day', plan(line(1), line(2), line(2)), 'row 4: day 2 is already used by row 3', 'body.row[4].Day'],
    ['an impossible date', plan(line(1), line(2, '', '2027-02-30')), 'row 3: Date "2027-02-30" is not a date of the form YYYY-MM-DD', 'body.row[3].Date'],
    ['a date in another format', plan(line(1, '', '03/01/2027')), 'row 2: Date "03/01/2027" is not a date of the form YYYY-MM-DD', 'body.row[2].Date'],
    ['a dependency that is not a day number', plan(line(1), line(2, '"1, day 1"')), 'row 3: Dependencies "1, day 1" holds "day", which is not a day number', 'body.row[3].Dependencies'],
    ['a day that depends on itself', plan(line(1), line(2, '2')), 'row 3: day 2 depends on itself', 'body.row[3].Dependencies'],
    ['a row with too few columns', plan(line(1), '2,2027-03-02,Build'), 'row 3: has 3 columns, but the header has 8', 'body.row[3]'],
    ['a row with too many columns', plan(`${line(1)},extra`), 'row 2: has 9 columns, but the header has 8', 'body.row[2]'],
  ])('refuses %s, naming the row and column', (_, text, message, field) => {
    expect(refusal(text)).toMatchObject({ message, field });
  });

  it('refuses an empty date only when steps are gated on it', () => {
    const text = plan(line(1, '', ''));

    expect(parsePlanCsv(text).steps[0]?.notBefore).toBeUndefined();
    expect(refusal(text, { dateGating: true })).toMatchObject({ field: 'body.row[2].Date' });
  });

  it('refuses a header without the required columns, naming them', () => {
    const error = refusal('Day,Date,Theme,Primary Deliverable,Status\n1,2027-03-01,Build,Thing,Open\n');

    expect(error.message).toMatch(/^row 1: the header is missing "VOT Name", "Key Metrics \(template\)", "Dependencies \(Day #\)"/);
    expect(error.field).toBe('body.row[1]');
  });

  it('refuses an empty file and a header without rows', () => {
    expect(refusal('').message).toMatch(/^the plan is empty/);
    expect(refusal('\uFEFF\r\n').message).toMatch(/^the plan is empty/);
    expect(refusal(`${planHeader}\r\n\r\n`).message).toMatch(/^the plan has a header but no rows/);
  });

  it('refuses text that is not CSV, naming the row where reading stopped', () => {
    const error = refusal(plan(line(1), '2,2027-03-02,"Build,Builder,x,y,Open,'));

    expect(error.message).toMatch(/^row 3: the CSV could not be read/);
  });

  it('refuses an executor kind that does not exist', () => {
    expect(refusal(samplePlan, { kind: 'Not A Kind' })).toMatchObject({ field: 'kind' });
  });
});

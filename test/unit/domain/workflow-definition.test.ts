import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/domain/errors';
import { assertStepTimeouts } from '#shared/domain/workflow';
import { formatIssuePath, parseWorkflowDefinition } from '#shared/domain/workflow-definition';

const yamlDefinition = `
name: Nightly research
description: Collect, summarise, publish
steps:
  - id: fetch
    kind: http
    input:
      url: https://agent.example/fetch
    retry: { maxAttempts: 5 }
  - id: summarise
    kind: llm
    dependsOn: [fetch]
  - id: publish
    kind: approval
    dependsOn:
      - summarise
`;

const jsonDefinition = {
  name: 'Nightly research',
  steps: [
    { id: 'fetch', kind: 'http' },
    { id: 'summarise', kind: 'llm', dependsOn: ['fetch'] },
  ],
};

/** The ValidationError parseWorkflowDefinition throws (fails the test when it accepts the body). */
const thrown = (act: () => unknown): ValidationError => {
  try {
    act();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected the definition to be refused');
};

const refusal = (body: string | object, contentType?: string): ValidationError => thrown(() => parseWorkflowDefinition(body, contentType));

describe('parseWorkflowDefinition', () => {
  it('reads a YAML definition and fills in the defaults', () => {
    // Act
    const workflow = parseWorkflowDefinition(yamlDefinition, 'application/yaml');

    // Assess
    expect(workflow.name).toBe('Nightly research');
    expect(workflow.steps.map((step) => [step.id, step.dependsOn])).toEqual([
      ['fetch', []],
      ['summarise', ['fetch']],
      ['publish', ['summarise']],
    ]);
    expect(workflow.steps[0]?.retry).toEqual({ maxAttempts: 5, backoffBaseSeconds: 1, backoffCapSeconds: 60, jitter: 'full' });
    expect(workflow.steps[0]?.input).toEqual({ url: 'https://agent.example/fetch' });
  });

  it('reads the same workflow from JSON text, a parsed object, or a body without a content type', () => {
    const text = JSON.stringify(jsonDefinition);
    const expected = parseWorkflowDefinition(jsonDefinition, undefined);

    expect(parseWorkflowDefinition(text, 'application/json; charset=utf-8')).toEqual(expected);
    expect(parseWorkflowDefinition(text, undefined)).toEqual(expected);
    expect(parseWorkflowDefinition(yamlDefinition, undefined).steps).toHaveLength(3);
    expect(parseWorkflowDefinition(yamlDefinition, 'text/x-yaml').steps).toHaveLength(3);
  });

  it('refuses an unknown step field, naming it', () => {
    const error = refusal({ name: 'x', steps: [{ id: 'a', kind: 'noop' }, { id: 'b', kind: 'noop', depends_on: ['a'] }] });

    expect(error.message).toBe('body.steps[1] has unknown field "depends_on"');
    expect(error.field).toBe('body.steps[1].depends_on');
  });

  it('names the path and the problem of an invalid field', () => {
    const error = refusal('name: x\nsteps:\n  - id: a\n    kind: noop\n  - id: b\n    kind: noop\n  - id: c\n    kind: Not A Kind\n', 'application/yaml');

    expect(error).toMatchObject({ field: 'body.steps[2].kind', status: 400 });
    expect(error.message).toBe('body.steps[2].kind must be an executor kind such as noop, http or approval');
  });

  it('lets only waiting kinds have a timeoutSeconds beyond the stage\'s limit, naming the field and the limit', () => {
    const definition = parseWorkflowDefinition({ name: 'x', steps: [{ id: 'fits', kind: 'http', timeoutSeconds: 870 }, { id: 'slow', kind: 'http', timeoutSeconds: 871 }] }, undefined);
    const gate = parseWorkflowDefinition({ name: 'x', steps: [{ id: 'review', kind: 'approval', timeoutSeconds: 7 * 86_400 }, { id: 'ci', kind: 'webhook', timeoutSeconds: 3600 }] }, undefined);

    const error = thrown(() => assertStepTimeouts(definition.steps, 870));

    expect(error).toMatchObject({ status: 400, field: 'body.steps[1].timeoutSeconds' });
    expect(error.message).toContain('at most 870 for a http step');
    expect(() => assertStepTimeouts(definition.steps.slice(0, 1), 870)).not.toThrow();
    expect(() => assertStepTimeouts(gate.steps, 15)).not.toThrow();
    expect(gate.steps.map((step) => step.timeoutSeconds)).toEqual([7 * 86_400, 3600]);
    expect(refusal({ name: 'x', steps: [{ id: 'review', kind: 'approval', timeoutSeconds: 31 * 86_400 }] }).field).toBe('body.steps[0].timeoutSeconds');
  });

  it('says plainly that a required field is missing, and lists several problems', () => {
    const error = refusal({ steps: [{ kind: 'noop' }] });

    expect(error.message).toBe('body.name is required; body.steps[0].id is required');
    expect(error.field).toBe('body.name');
  });

  it('refuses a definition whose steps do not form a DAG', () => {
    const error = refusal({ name: 'x', steps: [{ id: 'a', kind: 'noop', dependsOn: ['b'] }, { id: 'b', kind: 'noop', dependsOn: ['a'] }] });

    expect(error.message).toMatch(/^cycle: a → b → a/);
    expect(error.field).toBe('body.steps');
  });

  it('refuses a dependency on a missing step', () => {
    expect(refusal({ name: 'x', steps: [{ id: 'a', kind: 'noop', dependsOn: ['ghost'] }] })).toMatchObject({
      message: 'step "a" depends on "ghost", which is not a step of this workflow',
      field: 'body.steps[0].dependsOn',
    });
  });

  it.each([
    ['malformed JSON', '{"name": "x",', 'application/json', /^the body is not valid JSON/],
    ['malformed YAML', 'name: [x\nsteps: 1\n', 'application/yaml', /^the body is not valid YAML at line \d+, column \d+/],
    ['YAML with a custom tag', 'name: !!js/function "x"\nsteps: []\n', 'application/yaml', /^the body is not valid YAML.*Unresolved tag/],
    ['YAML with a repeated key', 'name: a\nname: b\nsteps: []\n', 'application/yaml', /^the body is not valid YAML.*unique/],
    ['several YAML documents', 'name: a\n---\nname: b\n', 'application/yaml', /^the body is not valid YAML.*multiple documents/],
    ['an empty body', '  \n', 'application/json', /^the body is empty/],
    ['a list instead of a workflow', '[]', undefined, /^body expected object, received array/],
  ])('refuses %s', (_, body, contentType, message) => {
    expect(refusal(body, contentType).message).toMatch(message);
  });

  it('refuses YAML whose aliases would expand exponentially', () => {
    // Prepare: each level repeats the one before nine times, 9^4 nodes from a few lines.
    const bomb = ['name: bomb', 'a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [level, previous] of [['b', 'a'], ['c', 'b'], ['d', 'c']]) bomb.push(`${level}: &${level} [${Array(9).fill(`*${previous}`).join(', ')}]`);

    // Act
    const error = refusal(`${bomb.join('\n')}\nsteps: []\n`, 'application/yaml');

    // Assess
    expect(error.message).toMatch(/aliases/);
    expect(error.field).toBe('body');
  });

  it('still accepts a YAML anchor reused a few times', () => {
    const text = ['name: shared retry', 'steps:', '  - { id: a, kind: noop, retry: &retry { maxAttempts: 7 } }', '  - { id: b, kind: noop, retry: *retry }', '  - { id: c, kind: noop, retry: *retry }'].join('\n');

    expect(parseWorkflowDefinition(text, 'application/yaml').steps.map((step) => step.retry?.maxAttempts)).toEqual([7, 7, 7]);
  });

  it('refuses a content type it cannot read', () => {
    expect(refusal('Day,Date\n', 'text/csv')).toMatchObject({ field: 'content-type' });
  });
});

describe('formatIssuePath', () => {
  it('writes paths the way a client would index the body', () => {
    expect(formatIssuePath([])).toBe('body');
    expect(formatIssuePath(['steps', 2, 'kind'])).toBe('body.steps[2].kind');
    expect(formatIssuePath(['steps', 0, 'labels', 'VOT Name'])).toBe('body.steps[0].labels["VOT Name"]');
  });
});

import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { analyzeDag } from '#shared/domain/dag';
import { assertLoops } from '#shared/domain/loops';
import { ValidationError } from '#shared/domain/errors';
import { workflowBody, type WorkflowBody } from '#shared/domain/workflow';

/**
 * A workflow definition as a client sends it (JSON or YAML, or JSON already parsed by the HTTP
 * layer), turned into a checked WorkflowBody: schema first, then the step graph.
 */

/**
 * Aliases a YAML document may expand. Low on purpose: a few nested aliases can otherwise
 * expand into billions of nodes (the "billion laughs" attack) and exhaust the function.
 */
export const maxYamlAliasCount = 50;

/** How many schema problems one error message lists before it stops. */
const maxIssuesInMessage = 3;

type BodyFormat = 'json' | 'yaml';

const jsonTypes = new Set(['application/json']);
const yamlTypes = new Set(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml']);
/** Types that say nothing about the format: the text itself tells. */
const sniffedTypes = new Set(['', 'text/plain']);

/** Parses and validates a workflow definition; throws ValidationError naming the field at fault. */
export const parseWorkflowDefinition = (body: string | object, contentType: string | undefined): WorkflowBody => {
  const value = typeof body === 'string' ? parseText(body, bodyFormat(body, contentType)) : body;
  const result = workflowBody.safeParse(value);
  if (!result.success) throw schemaError(result.error.issues);
  analyzeDag(result.data.steps);
  assertLoops(result.data.steps);
  return result.data;
};

/** A zod issue path as a client reads it: `['steps', 2, 'kind']` → `body.steps[2].kind`. */
export const formatIssuePath = (path: readonly PropertyKey[], root = 'body'): string =>
  path.reduce<string>((text, segment) => {
    if (typeof segment === 'number') return `${text}[${segment}]`;
    if (typeof segment === 'string' && /^[A-Za-z_$][\w$]*$/.test(segment)) return `${text}.${segment}`;
    return `${text}[${JSON.stringify(String(segment))}]`;
  }, root);

/** Where a schema issue points and what it says, worded for a client. */
export const describeIssue = (issue: z.core.$ZodIssue): { field: string; message: string } => {
  if (issue.code === 'unrecognized_keys') {
    const [first = ''] = issue.keys;
    const names = issue.keys.map((key) => `"${key}"`).join(', ');
    return { field: formatIssuePath([...issue.path, first]), message: `${formatIssuePath(issue.path)} has unknown field${issue.keys.length > 1 ? 's' : ''} ${names}` };
  }
  const field = formatIssuePath(issue.path);
  // zod words a missing field as "expected string, received undefined"; say it plainly.
  const missing = issue.code === 'invalid_type' && issue.message.endsWith('received undefined');
  return { field, message: `${field} ${missing ? 'is required' : issue.message.replace(/^Invalid input: /, '')}` };
};

const schemaError = (issues: readonly z.core.$ZodIssue[]): ValidationError => {
  const described = issues.map(describeIssue);
  const shown = described.slice(0, maxIssuesInMessage).map((issue) => issue.message);
  const more = described.length > maxIssuesInMessage ? ` (and ${described.length - maxIssuesInMessage} more)` : '';
  return new ValidationError(`${shown.join('; ')}${more}`, described[0]?.field ?? 'body');
};

/** The media type without parameters such as `; charset=utf-8`. */
const mediaType = (contentType: string | undefined): string => (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

const bodyFormat = (text: string, contentType: string | undefined): BodyFormat => {
  const type = mediaType(contentType);
  if (jsonTypes.has(type) || type.endsWith('+json')) return 'json';
  if (yamlTypes.has(type) || type.endsWith('+yaml')) return 'yaml';
  if (sniffedTypes.has(type)) return /^\s*[{[]/.test(text) ? 'json' : 'yaml';
  throw new ValidationError(`content type ${type} is not supported: send application/json or application/yaml`, 'content-type');
};

const parseText = (text: string, format: BodyFormat): unknown => {
  if (text.trim() === '') throw new ValidationError('the body is empty: send a workflow definition', 'body');
  return format === 'json' ? parseJson(text) : parseYaml(text);
};

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`the body is not valid JSON (${error instanceof Error ? error.message : String(error)})`, 'body');
  }
};

/**
 * YAML in its core schema only: unknown tags (`!!js/function`, `!custom`), repeated keys, several
 * documents and alias bombs are refused rather than guessed at.
 */
const parseYaml = (text: string): unknown => {
  const lineCounter = new LineCounter();
  // prettyErrors off: its code frame spans lines; the position goes in the message instead.
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false, schema: 'core', lineCounter });
  const [problem] = [...document.errors, ...document.warnings];
  if (problem) {
    const { line, col } = lineCounter.linePos(problem.pos[0]);
    throw new ValidationError(`the body is not valid YAML at line ${line}, column ${col}: ${problem.message}`, 'body');
  }
  try {
    return document.toJS({ maxAliasCount: maxYamlAliasCount });
  } catch (error) {
    // toJS throws a ReferenceError when aliases expand past maxAliasCount.
    if (!(error instanceof ReferenceError)) throw error;
    throw new ValidationError(`the body is not acceptable YAML: it expands aliases more than ${maxYamlAliasCount} times`, 'body');
  }
};

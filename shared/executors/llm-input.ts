import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import { secretRef } from '#shared/domain/secrets';
import { templateProblem } from '#shared/domain/templates';
import type { StepKind } from '#shared/executors/types';
import { withoutCredentials } from './http-input';

/**
 * What an `llm` step's input may be: the half of the kind that validation needs (a JSON Schema
 * in `json` is compiled with Ajv to refuse an unusable one when the workflow is saved); the
 * calling half, with undici and Bedrock, is llm.ts.
 */

const maxTemplateLength = 100_000;

/** One Ajv for every schema: compiled validators are cached by schema text. */
const ajv = new Ajv({ strict: false, allErrors: false, logger: false });
const validators = new Map<string, ValidateFunction>();
const maxCachedValidators = 100;

/** The compiled validator of a JSON Schema (throws when it is not one Ajv accepts). */
export const validatorOf = (schema: Record<string, unknown>): ValidateFunction => {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (!validate) {
    // A schema's $id would be registered globally and clash with the next compile of it.
    const { $id: _id, ...withoutId } = schema;
    validate = ajv.compile(withoutId);
    if (validators.size >= maxCachedValidators) validators.delete(validators.keys().next().value!);
    validators.set(key, validate);
  }
  return validate;
};

const jsonSchema = z.record(z.string(), z.unknown()).superRefine((schema, context) => {
  try {
    validatorOf(schema);
  } catch (error) {
    context.addIssue({ code: 'custom', message: `is not a usable JSON Schema: ${(error as Error).message}` });
  }
});

const template = z.string().min(1).max(maxTemplateLength);

/** What an `llm` step's input must look like. */
export const llmInput = z
  .strictObject({
    provider: z.enum(['bedrock', 'openai']),
    model: z.string().min(1).max(256),
    system: template.optional(),
    prompt: template.optional(),
    messages: z.array(z.strictObject({ role: z.enum(['user', 'assistant']), content: template })).min(1).max(100).optional(),
    maxTokens: z.number().int().min(1).max(200_000),
    temperature: z.number().min(0).max(2).optional(),
    json: z.union([z.literal(true), jsonSchema]).optional(),
    apiKey: secretRef.optional(),
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .refine(withoutCredentials, 'must not contain credentials: use apiKey')
      .optional(),
  })
  .superRefine((input, context) => {
    if ((input.prompt === undefined) === (input.messages === undefined)) {
      context.addIssue({ code: 'custom', path: [input.prompt === undefined ? 'prompt' : 'messages'], message: 'give exactly one of prompt and messages' });
    }
    if (input.provider === 'bedrock') {
      for (const field of ['apiKey', 'baseUrl'] as const) {
        if (input[field] !== undefined) context.addIssue({ code: 'custom', path: [field], message: 'applies to provider "openai" only (Bedrock calls use the worker\'s IAM role)' });
      }
    }
  });
export type LlmInput = z.infer<typeof llmInput>;

/** The `llm` kind as validation sees it: its templates may refer only to the step's dependencies. */
export const llmKind: StepKind<LlmInput> = {
  kind: 'llm',
  input: llmInput,
  checkStep(input, { dependsOn }) {
    const templates: Array<[Array<string | number>, string | undefined]> = [
      [['system'], input.system],
      [['prompt'], input.prompt],
      ...(input.messages ?? []).map((message, index): [Array<string | number>, string] => [['messages', index, 'content'], message.content]),
    ];
    for (const [path, text] of templates) {
      const problem = text === undefined ? undefined : templateProblem(text, dependsOn);
      if (problem) return { path, message: problem };
    }
    return undefined;
  },
};

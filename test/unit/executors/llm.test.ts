import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StepError } from '#shared/domain/step-errors';
import { bedrockFailure, createLlmExecutor, llmInput, openAiFailure, parseJsonReply, type Converse, type LlmInput } from '#shared/executors/llm';
import { createExecutorRegistry } from '#shared/executors/executor-registry';
import type { StepContext } from '#shared/executors/types';
import { defaultProjectSettings } from '#shared/schemas/projects';
import { stepContext } from '#test/fixtures/step-context';
import { startOpenAiServer, type OpenAiServer } from '#test/helpers/openai-server';

let server: OpenAiServer;
beforeAll(async () => {
  server = await startOpenAiServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

/** A fake Converse that records its requests and answers like the emulator (text, stop reason, counts). */
const fakeBedrock = (answer: Awaited<ReturnType<Converse>> | Error = { output: { message: { content: [{ text: 'Otters hold hands.' }] } }, stopReason: 'end_turn', usage: { inputTokens: 1200, outputTokens: 300 } }) => {
  const requests: Parameters<Converse>[0][] = [];
  const converse: Converse = async (request) => {
    requests.push(request);
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { converse, requests };
};

let clock = 0;
const now = () => new Date(Date.UTC(2026, 10, 30, 8, 0, 0) + (clock += 250));

const context = (overrides: Partial<StepContext> = {}, secrets: Record<string, string> = {}): StepContext =>
  stepContext({ runInput: { topic: 'otters' }, dependencyOutputs: { research: { summary: 'they hold hands' } }, ...overrides }, secrets);

const openai = (overrides: Partial<LlmInput> = {}): LlmInput =>
  llmInput.parse({ provider: 'openai', model: 'gpt-4o-mini', baseUrl: server.url, prompt: 'About {{runInput.topic}}', maxTokens: 100, ...overrides });

const failure = async (run: Promise<unknown>): Promise<StepError> => {
  const error: unknown = await run.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof StepError)) throw new Error(`expected a StepError, got ${String(error)}`);
  return error;
};

describe('llm executor on Bedrock', () => {
  it('calls Converse with the rendered prompt and records the call', async () => {
    const bedrock = fakeBedrock();
    const executor = createLlmExecutor({ converse: bedrock.converse, now });
    const input = llmInput.parse({
      provider: 'bedrock',
      model: 'anthropic.claude-3-haiku-20240307-v1:0',
      system: 'You write for children.',
      prompt: 'Summarise for {{runInput.topic}}: {{dependencies.research.summary}}',
      maxTokens: 256,
      temperature: 0.2,
    });

    const outcome = await executor.run(input, context());

    expect(bedrock.requests).toEqual([
      {
        modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
        messages: [{ role: 'user', content: [{ text: 'Summarise for otters: they hold hands' }] }],
        system: [{ text: 'You write for children.' }],
        inferenceConfig: { maxTokens: 256, temperature: 0.2 },
      },
    ]);
    // 1200 × 0.25 + 300 × 1.25 per million
    const record = { provider: 'bedrock', model: 'anthropic.claude-3-haiku-20240307-v1:0', inputTokens: 1200, outputTokens: 300, totalTokens: 1500, latencyMs: 250, costUsd: 0.000675 };
    expect(outcome).toEqual({
      status: 'completed',
      output: { text: 'Otters hold hands.', stopReason: 'end_turn' },
      usage: { tokens: { input: 1200, output: 300 }, costUsd: 0.000675, llm: [{ ...record, startedAt: expect.any(String), endedAt: expect.any(String) }] },
    });
  });

  it('prices with the project\'s own prices when it has them', async () => {
    const executor = createLlmExecutor({ converse: fakeBedrock().converse, now });
    const settings = { ...defaultProjectSettings, llmPrices: { 'anthropic.claude-3-haiku-20240307-v1:0': { inputPerMillion: 1000, outputPerMillion: 0 } } };
    const input = llmInput.parse({ provider: 'bedrock', model: 'anthropic.claude-3-haiku-20240307-v1:0', prompt: 'hi', maxTokens: 10 });

    const outcome = await executor.run(input, context({ projectSettings: settings }));

    expect(outcome.status === 'completed' && outcome.usage?.llm?.[0]?.costUsd).toBe(1.2);
  });

  it('classifies Bedrock errors: throttles, 5xx and timeouts retryable, other 4xx not', () => {
    const sdkError = (name: string, status?: number) => Object.assign(new Error(`${name} happened`), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });
    expect(bedrockFailure(sdkError('ThrottlingException', 429), 'm').retryable).toBe(true);
    expect(bedrockFailure(sdkError('ModelTimeoutException', 408), 'm').retryable).toBe(true);
    expect(bedrockFailure(sdkError('InternalServerException', 500), 'm').retryable).toBe(true);
    expect(bedrockFailure(sdkError('ServiceUnavailableException', 503), 'm').retryable).toBe(true);
    expect(bedrockFailure(sdkError('ECONNRESET'), 'm').retryable).toBe(true);
    const refused = bedrockFailure(sdkError('ValidationException', 400), 'amazon.nova-lite-v1:0');
    expect(refused).toMatchObject({ retryable: false, details: { code: 'ValidationException', status: 400 } });
    expect(refused.message).toBe('Bedrock amazon.nova-lite-v1:0: ValidationException: ValidationException happened');
    expect(bedrockFailure(sdkError('AccessDeniedException', 403), 'm').retryable).toBe(false);
    expect(bedrockFailure(sdkError('ResourceNotFoundException', 404), 'm').retryable).toBe(false);
  });

  it('fails a step whose Converse call is refused, through the executor', async () => {
    const error = Object.assign(new Error('model not found'), { name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 } });
    const executor = createLlmExecutor({ converse: fakeBedrock(error).converse, now });
    const input = llmInput.parse({ provider: 'bedrock', model: 'nope', prompt: 'hi', maxTokens: 10 });

    expect(await failure(executor.run(input, context()))).toMatchObject({ retryable: false, details: { code: 'ResourceNotFoundException' } });
  });
});

describe('llm executor on an OpenAI-compatible server', () => {
  const executor = createLlmExecutor({ converse: fakeBedrock().converse, now });

  it('posts a chat completion and records the server\'s token counts', async () => {
    const outcome = await executor.run(openai({ system: 'Be brief.', temperature: 0 }), context());

    expect(server.requests).toEqual([
      {
        path: '/v1/chat/completions',
        authorization: undefined,
        body: { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'About otters' }], max_tokens: 100, temperature: 0 },
      },
    ]);
    // The server counts characters: 9 + 12 in, 18 out.
    expect(outcome).toMatchObject({
      status: 'completed',
      output: { text: 'echo: About otters', stopReason: 'stop' },
      usage: { tokens: { input: 21, output: 18 }, llm: [{ provider: 'openai', model: 'gpt-4o-mini', inputTokens: 21, outputTokens: 18, totalTokens: 39 }] },
    });
  });

  it('sends a conversation of messages, each rendered', async () => {
    await executor.run(
      openai({ prompt: undefined, messages: [{ role: 'user', content: 'Topic: {{runInput.topic}}' }, { role: 'assistant', content: 'Noted.' }, { role: 'user', content: 'Go.' }] }),
      context(),
    );

    expect(server.requests[0]?.body.messages).toEqual([
      { role: 'user', content: 'Topic: otters' },
      { role: 'assistant', content: 'Noted.' },
      { role: 'user', content: 'Go.' },
    ]);
  });

  it('resolves the api key only at the call and keeps it out of errors', async () => {
    server.script('gpt-4o-mini', [{ status: 401, body: { error: { message: 'bad key sk-canary-123' } } }]);
    const input = openai({ apiKey: { $secret: 'openai' } });

    const error = await failure(executor.run(input, context({}, { openai: 'sk-canary-123' })));

    expect(server.requests[0]?.authorization).toBe('Bearer sk-canary-123');
    expect(error).toMatchObject({ retryable: false, details: { status: 401, code: 'LLM_HTTP_401' } });
    expect(error.message).toBe('model server at 127.0.0.1 answered 401: bad key [redacted]');
  });

  it('refuses a private server unless the project allows its range, checking the address the connection uses', async () => {
    const literal = await failure(executor.run(openai(), context({ allowPrivateTargets: false })));
    // By name: the guarded lookup of the connection refuses what it resolved.
    const byName = await failure(executor.run(openai({ baseUrl: server.url.replace('127.0.0.1', 'localhost') }), context({ allowPrivateTargets: false })));
    expect(literal).toMatchObject({ retryable: false, details: { code: 'TARGET_NOT_ALLOWED' } });
    expect(byName).toMatchObject({ retryable: false, details: { code: 'TARGET_NOT_ALLOWED' } });
    expect(byName.message).toMatch(/refusing to call localhost \(resolves to (127\.0\.0\.1|::1)\): loopback/);
    expect(server.requests).toHaveLength(0);

    const allowed = { ...defaultProjectSettings, allowPrivateAgents: ['127.0.0.1/32', '::1/128'] };
    const outcome = await executor.run(openai({ baseUrl: server.url.replace('127.0.0.1', 'localhost') }), context({ allowPrivateTargets: false, projectSettings: allowed }));
    expect(outcome.status).toBe('completed');
  });

  it('retries throttles and 5xx (honouring Retry-After), not other 4xx', () => {
    const at = { host: 'h', url: 'http://h/v1/chat/completions', now: new Date('2026-11-30T08:00:00Z') };
    const answer = (status: number, headers: Record<string, string> = {}) => ({ status, headers: new Headers(headers) });
    expect(openAiFailure(answer(429, { 'retry-after': '7' }), '{"error":{"message":"slow down"}}', at)).toMatchObject({
      retryable: true,
      message: 'model server at h answered 429: slow down',
      details: { retryAfterSeconds: 7 },
    });
    expect(openAiFailure(answer(503), 'upstream down', at).retryable).toBe(true);
    expect(openAiFailure(answer(408), '', at).retryable).toBe(true);
    expect(openAiFailure(answer(400), '{"error":"unknown model"}', at)).toMatchObject({ retryable: false, message: 'model server at h answered 400: unknown model' });
    expect(openAiFailure(answer(404), '', at).retryable).toBe(false);
  });

  it('treats an unreachable server as retryable and a non-completion reply as a misconfiguration', async () => {
    const unreachable = await failure(executor.run(openai({ baseUrl: 'http://127.0.0.1:9' }), context()));
    expect(unreachable).toMatchObject({ retryable: true, details: { code: 'NETWORK_ERROR' } });

    const wrongPath = await failure(executor.run(openai({ baseUrl: `${server.url}/elsewhere` }), context()));
    expect(wrongPath).toMatchObject({ retryable: false, details: { status: 404 } });
  });
});

describe('llm executor with json', () => {
  const executor = createLlmExecutor({ converse: fakeBedrock().converse, now });
  const schema = { type: 'object', required: ['title', 'score'], properties: { title: { type: 'string' }, score: { type: 'integer', minimum: 0 } } };

  it('asks for JSON and returns it parsed and checked', async () => {
    server.script('gpt-4o-mini', [{ content: '```json\n{"title": "Otters", "score": 3}\n```' }]);

    const outcome = await executor.run(openai({ json: schema }), context());

    expect(outcome).toMatchObject({ status: 'completed', output: { json: { title: 'Otters', score: 3 }, stopReason: 'stop' } });
    const body = server.requests[0]!.body;
    expect(body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema } });
    expect(body.messages[0]).toEqual({ role: 'system', content: expect.stringContaining('It must match this JSON Schema') });
  });

  it('refuses a reply that is not JSON, retryably, with the call recorded', async () => {
    server.script('gpt-4o-mini', [{ content: 'Sure! Here it is: {title: Otters}' }]);

    const error = await failure(executor.run(openai({ json: true }), context()));

    expect(error).toMatchObject({ retryable: true, details: { code: 'LLM_INVALID_JSON' } });
    expect(error.llmUsage).toEqual([expect.objectContaining({ model: 'gpt-4o-mini', inputTokens: expect.any(Number) })]);
    expect(server.requests[0]?.body.response_format).toEqual({ type: 'json_object' });
  });

  it('refuses JSON that does not match the schema, naming where', () => {
    expect(() => parseJsonReply({ text: '{"title": "Otters", "score": -1}', stopReason: 'stop' }, schema)).toThrow(
      expect.objectContaining({ retryable: true, details: { code: 'LLM_SCHEMA_MISMATCH' }, message: "the model's JSON does not match the schema: /score must be >= 0" }),
    );
    expect(() => parseJsonReply({ text: '{"title": "Otters"', stopReason: 'max_tokens' }, true)).toThrow(/cut at maxTokens/);
  });
});

describe('llm step input', () => {
  const registry = createExecutorRegistry({ executors: [createLlmExecutor({ converse: fakeBedrock().converse })] });
  const step = (input: Record<string, unknown>, dependsOn: string[] = []) => ({ id: 'write', kind: 'llm', dependsOn, input: { provider: 'openai', model: 'm', maxTokens: 5, ...input } });
  const fieldOf = (input: Record<string, unknown>, dependsOn: string[] = []) => {
    try {
      registry.validateInputs([step(input, dependsOn)]);
      return undefined;
    } catch (error) {
      return (error as { field?: string; message: string }).field;
    }
  };

  it('takes exactly one of prompt and messages', () => {
    expect(fieldOf({ prompt: 'hi' })).toBeUndefined();
    expect(fieldOf({})).toBe('body.steps[0].input.prompt');
    expect(fieldOf({ prompt: 'hi', messages: [{ role: 'user', content: 'hi' }] })).toBe('body.steps[0].input.messages');
  });

  it('refuses a template reference to a step that is not a dependency, naming the field', () => {
    expect(fieldOf({ prompt: '{{dependencies.research.summary}}' }, ['research'])).toBeUndefined();
    expect(fieldOf({ prompt: '{{dependencies.research.summary}}' })).toBe('body.steps[0].input.prompt');
    expect(fieldOf({ messages: [{ role: 'user', content: 'ok' }, { role: 'user', content: '{{dependencies.other}}' }] }, ['research'])).toBe(
      'body.steps[0].input.messages[1].content',
    );
    expect(fieldOf({ prompt: 'x', system: '{{dependencies.other.x}}' })).toBe('body.steps[0].input.system');
  });

  it('takes an api key only as a secret reference, and no key or URL for Bedrock', () => {
    expect(fieldOf({ prompt: 'x', apiKey: 'sk-plain' })).toBe('body.steps[0].input.apiKey');
    expect(fieldOf({ prompt: 'x', apiKey: { $secret: 'openai' } })).toBeUndefined();
    expect(fieldOf({ provider: 'bedrock', prompt: 'x', apiKey: { $secret: 'openai' } })).toBe('body.steps[0].input.apiKey');
    expect(fieldOf({ provider: 'bedrock', prompt: 'x', baseUrl: 'http://localhost:11434' })).toBe('body.steps[0].input.baseUrl');
  });

  it('refuses a json value that is not a usable JSON Schema', () => {
    expect(fieldOf({ prompt: 'x', json: { type: 'object' } })).toBeUndefined();
    expect(fieldOf({ prompt: 'x', json: { type: 'no-such-type' } })).toBe('body.steps[0].input.json');
    expect(fieldOf({ prompt: 'x', json: false })).toBe('body.steps[0].input.json');
  });
});

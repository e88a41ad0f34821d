import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OpenAI-compatible model server on loopback (`POST /v1/chat/completions`), standing in for
 * OpenAI, Ollama or vLLM in tests. By default it echoes the last user message (as JSON when the
 * request asks for JSON) and counts tokens as characters: prompt_tokens = the characters of all
 * messages, completion_tokens = the characters of the reply, so tests can predict them.
 * `script(model, replies)` queues replies for a model, used one per request before the default.
 */
export interface OpenAiServer {
  /** Base URL, e.g. `http://127.0.0.1:41234` (the `baseUrl` of an llm step). */
  url: string;
  requests: ModelRequest[];
  script(model: string, replies: ScriptedReply[]): void;
  close(): Promise<void>;
}

export interface ModelRequest {
  path: string;
  authorization: string | undefined;
  body: ChatBody;
}

interface ChatBody {
  model: string;
  messages: Array<{ role: string; content: string }>;
  response_format?: { type: string };
  [key: string]: unknown;
}

/** A reply's content (a 200 completion), or an error status with its body and headers. */
export type ScriptedReply = { content: string; finishReason?: string } | { status: number; body?: unknown; headers?: Record<string, string> };

export async function startOpenAiServer({ host = '127.0.0.1' } = {}): Promise<OpenAiServer> {
  const requests: ModelRequest[] = [];
  const scripts = new Map<string, ScriptedReply[]>();

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as ChatBody;
    requests.push({ path: request.url ?? '/', authorization: request.headers.authorization, body });
    if (request.method !== 'POST' || request.url !== '/v1/chat/completions') return send(response, 404, { error: { message: 'not found' } });

    const reply = scripts.get(body.model)?.shift() ?? defaultReply(body);
    if ('status' in reply) return send(response, reply.status, reply.body ?? { error: { message: `status ${reply.status}` } }, reply.headers);
    const promptTokens = body.messages.reduce((sum, message) => sum + message.content.length, 0);
    return send(response, 200, {
      id: `chatcmpl-${requests.length}`,
      object: 'chat.completion',
      model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content: reply.content }, finish_reason: reply.finishReason ?? 'stop' }],
      usage: { prompt_tokens: promptTokens, completion_tokens: reply.content.length, total_tokens: promptTokens + reply.content.length },
    });
  };

  const server = createServer((request, response) => {
    void handle(request, response).catch((error: unknown) => send(response, 500, { error: { message: String(error) } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    requests,
    script(model, replies) {
      scripts.set(model, [...(scripts.get(model) ?? []), ...replies]);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const defaultReply = (body: ChatBody): ScriptedReply => {
  const last = [...body.messages].reverse().find((message) => message.role === 'user')?.content ?? '';
  return { content: body.response_format ? JSON.stringify({ echo: last }) : `echo: ${last}` };
};

function send(response: ServerResponse, status: number, json: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(json));
}

import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';
import type { Converse } from '#shared/executors/llm';
import { traced } from '#shared/middleware/tracer';

export const createBedrockRuntimeClient = (): BedrockRuntimeClient => traced(attachUsageMeter(new BedrockRuntimeClient(commonClientConfig())));

/** Converse through the metered client, created at the first call (most invocations never make one). */
export function bedrockConverse(): Converse {
  let client: BedrockRuntimeClient | undefined;
  return (request, { abortSignal }) => (client ??= createBedrockRuntimeClient()).send(new ConverseCommand(request), { abortSignal });
}

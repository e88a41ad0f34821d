import { CreateFunctionCommand, DeleteFunctionCommand, waitUntilFunctionActiveV2 } from '@aws-sdk/client-lambda';
import { zipSync, strToU8 } from 'fflate';
import { aws } from './aws';

/**
 * Agent functions for `lambda` steps, created in the emulator with the handler source given
 * (CommonJS, Node's own modules and global fetch only: MiniStack runs it on the host's Node).
 */
export interface AgentFunction {
  name: string;
  arn: string;
  remove(): Promise<void>;
}

/** Creates `name` from `source` (the body of index.js) and waits until it can be invoked. */
export async function createAgentFunction(name: string, source: string): Promise<AgentFunction> {
  const zip = zipSync({ 'index.js': strToU8(source) });
  const created = await aws.lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      // The emulator checks no role; on AWS this would be the function's own execution role.
      Role: `arn:aws:iam::000000000000:role/${name}`,
      Code: { ZipFile: zip },
      Timeout: 60,
    }),
  );
  await waitUntilFunctionActiveV2({ client: aws.lambda, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { FunctionName: name });
  return {
    name,
    arn: created.FunctionArn!,
    remove: async () => {
      await aws.lambda.send(new DeleteFunctionCommand({ FunctionName: name })).catch(() => undefined);
    },
  };
}

/** A function name unique to this test run, so reruns never meet a half-deleted earlier one. */
export const agentFunctionName = (purpose: string): string => `baton-agent-${purpose}-${Date.now().toString(36)}`;


import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CloudFormationClient,
  DeleteStackCommand,
  DescribeStacksCommand,
  waitUntilStackDeleteComplete,
} from '@aws-sdk/client-cloudformation';
import { buildConsole } from '../../infra/console-bundle';
import { localApiUrl, localConsoleUrl } from '../../infra/emulator-gaps';
import { publishConsole } from './console';
import { emulatorEnv } from './emulator';
import { root, statePath } from './paths';
import { writeStackInfo, type StackInfo } from './stack';

export const localStage = 'local';
export const stackNames = (stage: string) => ({
  data: `Baton-${stage}-Data`,
  messaging: `Baton-${stage}-Messaging`,
  engine: `Baton-${stage}-Engine`,
  console: `Baton-${stage}-Console`,
  api: `Baton-${stage}-Api`,
});

const cloudFormation = (endpoint: string) => {
  const env = emulatorEnv(endpoint);
  return new CloudFormationClient({
    endpoint,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
};

async function stackExists(client: CloudFormationClient, name: string): Promise<boolean> {
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: name }));
    return (Stacks ?? []).some((stack) => !stack.StackStatus?.startsWith('DELETE_COMPLETE'));
  } catch {
    return false;
  }
}

/** Runs the CDK CLI (through cdklocal) with its chatty output in a log file; shows the tail on failure. */
function cdk(endpoint: string, args: string[], logName: string): Promise<void> {
  const logPath = statePath(logName);
  const log = createWriteStream(logPath);
  return new Promise((resolve, reject) => {
    const child = spawn(join(root, 'node_modules', '.bin', 'cdklocal'), args, {
      cwd: root,
      env: { ...process.env, ...emulatorEnv(endpoint), BATON_STAGE: localStage, CDK_DISABLE_VERSION_CHECK: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.on('error', reject);
    child.on('exit', (code) => {
      log.end(() => {
        if (code === 0) return resolve();
        const tail = readFileSync(logPath, 'utf8').split('\n').filter((line) => !/nodedir/.test(line)).slice(-30).join('\n');
        reject(new Error(`cdk ${args[0]} failed (exit ${code}). Last lines of ${logPath}:\n${tail}`));
      });
    });
  });
}

/**
 * Builds the console, bootstraps the environment when needed, deploys every stack, publishes the
 * console with the API's URL, and writes .baton/stack.json.
 */
export async function deploy(endpoint: string): Promise<StackInfo> {
  const client = cloudFormation(endpoint);
  const env = emulatorEnv(endpoint);
  if (!(await stackExists(client, 'CDKToolkit'))) {
    console.log('Bootstrapping the CDK environment …');
    await cdk(endpoint, ['bootstrap', `aws://${env.CDK_DEFAULT_ACCOUNT}/${env.AWS_REGION}`], 'bootstrap.log');
  }
  console.log('Building the console …');
  buildConsole();
  console.log('Deploying the Baton stacks …');
  const outputsPath = statePath('outputs.json');
  await cdk(
    endpoint,
    ['deploy', '--all', '--method=direct', '--require-approval', 'never', '--outputs-file', outputsPath, '-c', `stage=${localStage}`],
    'deploy.log',
  );
  const outputs = JSON.parse(readFileSync(outputsPath, 'utf8')) as Record<string, Record<string, string>>;
  const names = stackNames(localStage);
  const output = (stack: string, key: string): string => {
    const value = outputs[stack]?.[key];
    if (!value) throw new Error(`Stack output ${stack}.${key} is missing from ${outputsPath}`);
    return value;
  };
  const apiId = output(names.api, 'ApiId');
  const apiUrl = localApiUrl(endpoint, apiId);
  const consoleBucket = output(names.console, 'ConsoleBucketName');
  await publishConsole(endpoint, consoleBucket, { apiUrl, stage: localStage });
  const info: StackInfo = {
    stage: localStage,
    endpoint,
    region: env.AWS_REGION!,
    apiId,
    apiUrl,
    consoleUrl: localConsoleUrl(endpoint, consoleBucket),
    consoleBucket,
    tableName: output(names.data, 'TableName'),
    artifactsBucket: output(names.data, 'ArtifactsBucketName'),
    stepQueueUrl: output(names.messaging, 'StepQueueUrl'),
    stepDlqUrl: output(names.messaging, 'StepDlqUrl'),
    stepParkedQueueUrl: output(names.messaging, 'StepParkedQueueUrl'),
    busName: output(names.messaging, 'BusName'),
    adminTokenSecret: output(names.api, 'AdminTokenSecretArn'),
    sweeperFunction: output(names.engine, 'SweeperFunctionName'),
    triggerBus: output(names.engine, 'TriggerBusName'),
    triggerStartFunction: output(names.engine, 'TriggerStartFunctionName'),
  };
  writeStackInfo(info);
  return info;
}

/**
 * Deletes the stacks through the CloudFormation API, dependents first. Unlike `cdk destroy`
 * it needs no synth (no bundling), so it is quick and works even when the code does not build.
 */
export async function teardown(endpoint: string): Promise<void> {
  const client = cloudFormation(endpoint);
  const names = stackNames(localStage);
  for (const name of [names.api, names.console, names.engine, names.messaging, names.data]) {
    if (!(await stackExists(client, name))) continue;
    console.log(`Deleting ${name} …`);
    await client.send(new DeleteStackCommand({ StackName: name }));
    await waitUntilStackDeleteComplete({ client, maxWaitTime: 300, minDelay: 1, maxDelay: 5 }, { StackName: name });
  }
}

/**
 * Where the local emulator differs from AWS, and what Baton does about it. Every workaround
 * lives here, says which behaviour it works around, and goes when the pinned emulator no
 * longer needs it (pinned version: scripts/lib/emulator.ts). It imports nothing, so both the
 * CDK app and Lambda bundles can use it.
 */

/**
 * The API id the local stage pins. On AWS an API id is random per deployment; locally a fixed
 * one keeps the printed URL valid across redeploys and resets. MiniStack reads the
 * `ms-custom-id` tag (8 lowercase hex characters); LocalStack reads `_custom_id_`.
 */
export const localApiId = 'ba7017a1';

export const pinnedApiIdTags: Record<string, string> = { 'ms-custom-id': localApiId, _custom_id_: localApiId };

/**
 * The API's base URL on an emulator. `{apiId}.execute-api.localhost` does not resolve on every
 * machine, so Baton uses the path form that MiniStack and LocalStack both serve.
 */
export const localApiUrl = (endpoint: string, apiId: string): string =>
  `${endpoint.replace(/\/$/, '')}/_aws/execute-api/${apiId}`;

/**
 * The web console on the emulator. On AWS it is served by CloudFront from the private console
 * bucket (origin access control, security headers from a response headers policy) and published
 * by CDK's BucketDeployment. MiniStack 1.5.33 creates the distribution, the origin access control
 * and the headers policy, but CloudFront there is control plane only (its data plane came in later
 * releases) and S3 website hosting only stores its configuration; BucketDeployment's custom
 * resource runs a Python Lambda that calls the AWS CLI from a layer under /opt, which local Lambda
 * processes do not have. So locally the deploy script uploads the same files
 * (scripts/lib/console.ts) and the console is read straight from
 * the bucket by its S3 path, which the emulator serves without signatures. Differences: no
 * security headers on these responses, and http instead of https. The host is `localhost` while
 * the API is called on 127.0.0.1, so the browser treats them as two origins and does real CORS,
 * as it does on AWS.
 */
export const localConsoleUrl = (endpoint: string, bucket: string): string =>
  `${endpoint.replace(/\/$/, '').replace('//127.0.0.1', '//localhost')}/${bucket}/index.html`;

/**
 * MiniStack 1.5.33 keeps an HTTP API's CloudFormation `CorsConfiguration` as written (AllowOrigins,
 * AllowHeaders…) but its gateway reads the API's own field names (allowOrigins, allowHeaders…),
 * so every preflight is refused ("CORS origin denied"). Locally the same configuration is also
 * given under those names; AWS would refuse them, so this is used on the local stage only.
 */
export const emulatorCorsConfiguration = (cors: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(cors).map(([key, value]) => [key.charAt(0).toLowerCase() + key.slice(1), value]));

/*
 * Gaps seen in MiniStack 1.5.33 that need no code, recorded so nobody re-discovers them:
 * - `Ref` of AWS::SecretsManager::Secret yields the secret's name, not its ARN. Baton only
 *   passes it to GetSecretValue, which takes either.
 * - GenerateSecretString ignores ExcludePunctuation; bearer parsing accepts any visible ASCII
 *   (shared/domain/tokens.ts), so the generated installation token works as it is.
 * - Lambdas run on the host's Node (whatever the declared runtime) without an AWS SDK: every
 *   bundle includes the SDK and targets Node 20 (infra/constructs/baton-function.ts).
 * - Fixed by 1.5.33, no workaround kept: the queue RedrivePolicy that earlier releases dropped
 *   (an e2e test checks it), and `cdklocal destroy`, which used to delete nothing.
 */

/**
 * EventBridge Scheduler replaces `<aws.scheduler.scheduled-time>` in a target's input with the
 * fire time; MiniStack 1.5.33 passes the placeholder through unchanged. The scheduled-start
 * function then uses the current time truncated to the minute (schedules fire at most once a
 * minute), which keeps a repeated fire idempotent.
 */
export const localFireTime = (now: Date): string => new Date(Math.floor(now.getTime() / 60_000) * 60_000).toISOString();

/**
 * The API's base URL as the worker reads it (the HTTP API's `ApiEndpoint`, published in SSM by
 * the API stack), for callback URLs. Emulators answer `http://<id>.execute-api.<host>:<port>`,
 * which does not resolve on every machine: there the path form on the emulator's endpoint is
 * used instead. On AWS (no AWS_ENDPOINT_URL) the endpoint is used as it is.
 */
export const reachableApiUrl = (apiEndpoint: string, emulatorEndpoint: string | undefined): string => {
  const id = /^https?:\/\/([a-z0-9]+)\.execute-api\./.exec(apiEndpoint)?.[1];
  if (!emulatorEndpoint || !id || /\.amazonaws\.com(\.cn)?(:\d+)?\/?$/.test(apiEndpoint)) return apiEndpoint;
  return localApiUrl(emulatorEndpoint, id);
};

/**
 * Where the local emulator differs from AWS, and what Baton does about it. Every workaround
 * lives here, says which behaviour it works around, and goes when the pinned emulator no
 * longer needs it (pinned version: scripts/lib/emulator.ts). The workarounds Lambda code runs
 * (API URLs, scheduled fire times, the queue redrive's missing move task) are defined in
 * shared/config/emulator-gaps.ts, so that no function bundle imports infra/, and listed here by
 * re-export.
 */

export { localApiUrl, localFireTime, reachableApiUrl } from '#shared/config/emulator-gaps';

/**
 * MiniStack 1.5.33 has no SQS StartMessageMoveTask (it answers `InvalidAction`), which the queue
 * redrive (POST /v1/queues/steps-parked/redrive) uses on AWS. On an emulator the API does what the
 * task would: receive from steps-parked, send each body with its attributes to the step queue,
 * delete what arrived (shared/clients/queue-admin.ts, moveByCopy), and answers
 * `method: "emulator-copy"` with the count moved. On AWS a failing task is an error, never a copy.
 */
export { messageMoveTaskMissing } from '#shared/config/emulator-gaps';

/**
 * MiniStack 1.5.33 returns no `ConsumedCapacity` on BatchGetItem, whatever ReturnConsumedCapacity
 * says (its GetItem, Query, Scan and TransactGetItems return one: a flat 1 or 0.5 unit per call,
 * whatever the size). The usage meter asks for the capacity on every DynamoDB call
 * (shared/clients/usage-meter.ts, `prepare`), so on AWS every read is billed as DynamoDB reports
 * it; a read that comes back without it is billed by this estimate from the items it returned,
 * by DynamoDB's rules (4 KB units, a missing item one unit, half for eventually consistent reads,
 * double in a transaction). Without it the engine's hot-path reads (the run and step of each
 * message, a parent's children) counted nothing on the emulator. Goes when the pinned emulator
 * reports capacity on every read (the meter then never calls it).
 */
export { estimateReadUnits } from '#shared/clients/read-units';

/**
 * The API id the local stage pins. On AWS an API id is random per deployment; locally a fixed
 * one keeps the printed URL valid across redeploys and resets. MiniStack reads the
 * `ms-custom-id` tag (8 lowercase hex characters); LocalStack reads `_custom_id_`.
 */
export const localApiId = 'ba7017a1';

export const pinnedApiIdTags: Record<string, string> = { 'ms-custom-id': localApiId, _custom_id_: localApiId };

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
 * - EventBridge rules made at run time (triggers, shared/store/triggers.ts): MiniStack 1.5.33
 *   supports what they use (PutRule with an event pattern on a named or the default bus, refusing
 *   bad patterns with InvalidEventPatternException; PutTargets with a Lambda target and an input
 *   transformer, `<aws.events.event.json>` included; EnableRule, DisableRule, RemoveTargets,
 *   DeleteRule), with differences that need no code: it does not check the function's resource
 *   policy (AWS needs the `events.amazonaws.com` permission the engine stack grants to rules of
 *   the stage's prefix), ignores the target's RetryPolicy and the Lambda's async retries and
 *   on-failure destination (an invocation that fails is lost, not parked in ReactionsDlq), lets
 *   DeleteRule delete a rule that still has targets and EnableRule/DisableRule answer success for
 *   a rule that does not exist (AWS: ValidationException, ResourceNotFoundException). The code
 *   removes targets before deleting a rule, as AWS requires.
 * - CloudWatch alarms: CloudFormation creates `AWS::CloudWatch::Alarm` only from a plain metric
 *   (MetricName + Namespace; metric math is refused) and the dashboard's body is stored, not
 *   drawn; SQS and Lambda publish no metrics, so the alarms never leave INSUFFICIENT_DATA. Baton's
 *   alarms use plain metrics only (infra/stacks/operations-stack.ts), so the same stack deploys.
 * - Fixed by 1.5.33, no workaround kept: the queue RedrivePolicy that earlier releases dropped
 *   (an e2e test checks it), and `cdklocal destroy`, which used to delete nothing.
 */

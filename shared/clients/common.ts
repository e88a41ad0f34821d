/**
 * What every SDK client factory shares. One module per client (`dynamodb.ts`, `sqs.ts`, …) so a
 * function's bundle takes in only the SDK packages it uses: the SDK's CommonJS builds are not
 * tree-shaken, and each package costs tens of milliseconds of every cold start.
 *
 * The SDK reads AWS_ENDPOINT_URL by itself (real AWS leaves it unset; LocalStack and MiniStack set
 * it inside Lambdas, scripts and tests set it for the emulator). Every client carries the usage
 * meter (`attachUsageMeter`), which records only inside a `meterUsage` scope.
 */
export const endpointOverride = (): string | undefined => process.env.AWS_ENDPOINT_URL || undefined;

export const commonClientConfig = () => ({ maxAttempts: 3 });

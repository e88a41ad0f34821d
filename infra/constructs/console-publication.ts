import { DockerImage, Stack, Validations } from 'aws-cdk-lib';
import type { IDistribution } from 'aws-cdk-lib/aws-cloudfront';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, CacheControl, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import type { Stage } from '../stage';
import { buildConsole, consoleConfigFile, consoleRoot, type ConsoleRuntimeConfig } from '../console-bundle';

export interface ConsolePublicationProps {
  bucket: IBucket;
  stage: Stage;
  distribution: IDistribution;
  config: ConsoleRuntimeConfig;
}

/**
 * Publishes the console: the Vite build (made during synth by local bundling) and a `config.json`
 * naming the API, copied into the console bucket, then the distribution invalidated. Files are
 * revalidated on every load; the bundle's file names change with their content anyway.
 * Not used on the emulator (infra/emulator-gaps.ts, localConsoleUrl).
 */
export class ConsolePublication extends Construct {
  readonly deployment: BucketDeployment;

  constructor(scope: Construct, id: string, { bucket, stage, distribution, config }: ConsolePublicationProps) {
    super(scope, id);
    const bundle = Source.asset(consoleRoot, {
      bundling: {
        // Local bundling always succeeds where the repository builds; the image is CDK's required fallback.
        image: DockerImage.fromRegistry('node:20'),
        local: {
          tryBundle(outputDir) {
            buildConsole(outputDir);
            return true;
          },
        },
      },
    });
    this.deployment = new BucketDeployment(this, 'Files', {
      sources: [bundle, Source.jsonData(consoleConfigFile, config)],
      destinationBucket: bucket,
      distribution,
      distributionPaths: ['/*'],
      cacheControl: [CacheControl.noCache()],
      memoryLimit: 512,
    });
    // BucketDeployment's handler is a stack-wide singleton: the findings are on it, not on this construct.
    const handler = Stack.of(this).node.children.find((child) => child.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (!handler) throw new Error('BucketDeployment handler not found');
    Validations.of(handler).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'CDK\'s BucketDeployment handler writes its logs with the AWS-managed basic execution role.',
      },
      ...['Action::s3:GetObject*', 'Action::s3:GetBucket*', 'Action::s3:List*', 'Action::s3:DeleteObject*', 'Action::s3:Abort*'].map((finding) => ({
        id: `AwsSolutions-IAM5[${finding}]`,
        reason: 'BucketDeployment reads the bundle from the CDK asset bucket and replaces the console bucket\'s content (CDK\'s own grant, limited to those two buckets).',
      })),
      {
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
        reason: 'The bundle is a CDK asset: its key in the bootstrap asset bucket is only known at deploy time.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::baton-${stage.name}-console-<AWS::AccountId>-<AWS::Region>/*]`,
        reason: 'The console bucket holds nothing but the published bundle, which every deploy replaces.',
      },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'CloudFront invalidations have no resource-level permission narrower than the account (CDK\'s own grant).' },
      { id: 'AwsSolutions-L1', reason: 'The runtime of CDK\'s BucketDeployment handler is chosen by aws-cdk-lib.' },
      { id: 'Serverless-LambdaDLQ', reason: 'Invoked synchronously by CloudFormation as a custom resource; a failure fails the deployment.' },
      { id: 'Serverless-LambdaTracing', reason: 'A deploy-time custom resource of aws-cdk-lib; nothing to trace at run time.' },
      { id: 'Serverless-LambdaDefaultMemorySize', reason: 'Memory is set (512 MB) for the copy of the bundle.' },
      { id: 'Serverless-LambdaLatestVersion', reason: 'The runtime of CDK\'s BucketDeployment handler is chosen by aws-cdk-lib.' },
    );
  }
}

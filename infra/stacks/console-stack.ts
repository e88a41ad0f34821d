import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  SecurityPolicyProtocol,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { AccessLogBucket } from '../constructs/access-log-bucket';
import type { Stage } from '../stage';

export interface ConsoleStackProps extends StackProps {
  stage: Stage;
}

/**
 * The console bucket's name, known before deployment: the API stack publishes into it by name
 * (no cross-stack export to tie the two together), and the emulator's console URL contains it.
 */
export const consoleBucketName = (stage: Stage): string => `baton-${stage.name}-console-${Aws.ACCOUNT_ID}-${Aws.REGION}`;

/**
 * Where the web console is served from: a private S3 bucket behind CloudFront, reached only
 * through origin access control, with security headers on every response. The bundle and its
 * `config.json` are published by the API stack (ConsolePublication), which knows the API's URL;
 * the API in turn allows this distribution's origin by CORS, so this stack comes first.
 */
export class ConsoleStack extends Stack {
  readonly bucket: Bucket;
  readonly distribution: Distribution;
  /** The console's origin (`https://<domain>`), allowed by the API's CORS. */
  readonly origin: string;

  constructor(scope: Construct, id: string, { stage, ...props }: ConsoleStackProps) {
    super(scope, id, props);
    // The bucket holds only the built bundle, which every deploy publishes again.
    const removalPolicy = stage.isLocal ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    // Also CloudFront's standard logs (delivered with an ACL: see AccessLogBucket).
    const logs = new AccessLogBucket(this, 'ConsoleLogs', { removalPolicy });

    this.bucket = new Bucket(this, 'ConsoleBucket', {
      bucketName: consoleBucketName(stage),
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: logs,
      serverAccessLogsPrefix: 'console-bucket/',
      removalPolicy,
    });

    const headers = new ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: `Baton ${stage.name} console: security headers`,
      securityHeadersBehavior: {
        // The console loads only its own files and talks only to the API (an execute-api host).
        contentSecurityPolicy: {
          contentSecurityPolicy: [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            `connect-src 'self' https://*.execute-api.${Aws.REGION}.amazonaws.com`,
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
          ].join('; '),
          override: true,
        },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(730), includeSubdomains: true, preload: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });

    this.distribution = new Distribution(this, 'ConsoleDistribution', {
      comment: `Baton ${stage.name} console`,
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
      },
      // The console routes with the URL's hash, so no deep link ever needs an error-page rewrite.
      httpVersion: HttpVersion.HTTP2_AND_3,
      minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021,
      priceClass: PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: logs,
      logFilePrefix: 'cloudfront/',
    });
    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR4',
        reason: 'The default *.cloudfront.net certificate cannot be pinned to TLS 1.2; with a custom domain and certificate, minimumProtocolVersion (TLS 1.2, 2021) applies.',
      },
      { id: 'AwsSolutions-CFR1', reason: 'The console is a static bundle for the project\'s people, wherever they are; access is by API token.' },
      { id: 'AwsSolutions-CFR2', reason: 'Only static files are served; the API behind it has its own throttling and per-token rate limits.' },
    );
    this.origin = `https://${this.distribution.distributionDomainName}`;

    new CfnOutput(this, 'ConsoleBucketName', { value: this.bucket.bucketName });
    new CfnOutput(this, 'ConsoleUrl', { value: this.origin });
    new CfnOutput(this, 'ConsoleDistributionId', { value: this.distribution.distributionId });
  }
}

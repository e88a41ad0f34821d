import { Duration, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

/**
 * A bucket that receives access logs (S3 server access logs, CloudFront standard logs): private,
 * encrypted, TLS-only, kept 90 days. Log deliveries come with an ACL, hence bucket-owner-preferred
 * ownership rather than ACLs disabled. Its construct id is the bucket's own, so logical ids do not
 * change when a stack moves to it.
 */
export class AccessLogBucket extends Bucket {
  constructor(scope: Construct, id: string, { removalPolicy }: { removalPolicy: RemovalPolicy }) {
    super(scope, id, {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy,
    });
    Validations.of(this).acknowledge({ id: 'AwsSolutions-S1', reason: 'This is the access-log bucket; logging it into itself would loop.' });
  }
}

import { S3Client } from '@aws-sdk/client-s3';
import { commonClientConfig, endpointOverride } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';
import { traced } from '#shared/middleware/tracer';

/** Emulators serve buckets path-style only: the one thing the SDK cannot infer from the endpoint. */
export const createS3Client = (): S3Client =>
  traced(attachUsageMeter(new S3Client({ ...commonClientConfig(), forcePathStyle: endpointOverride() !== undefined })));

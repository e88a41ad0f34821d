import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { StepArtifact } from '#shared/executors/types';
import type { ArtifactRecord } from './runs';

/** Outputs larger than this go to S3 with a pointer in the step item (claim check). */
export const inlineOutputLimitBytes = 4 * 1024;
export const signedUrlSeconds = 15 * 60;

export interface AttemptAddress {
  projectId: string;
  runId: string;
  stepId: string;
  attempt: number;
}

/** Every object Baton writes lives under this prefix (the functions' S3 grant is limited to it). */
export const artifactPrefix = 'projects/';

const prefix = ({ projectId, runId, stepId, attempt }: AttemptAddress) =>
  `${artifactPrefix}${projectId}/runs/${runId}/steps/${encodeURIComponent(stepId)}/attempts/${attempt}`;

/** Step outputs and artifacts in S3, per project/run/step/attempt. */
export const createArtifactStore = ({ s3, bucket }: { s3: S3Client; bucket: string }) => ({
  /** Keeps a small output inline; stores a large one in S3 and returns its key instead. */
  async storeOutput(address: AttemptAddress, output: unknown): Promise<{ output?: unknown; outputRef?: string }> {
    const body = JSON.stringify(output ?? null);
    if (Buffer.byteLength(body) <= inlineOutputLimitBytes) return { output: output ?? null };
    const key = `${prefix(address)}/output.json`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }));
    return { outputRef: key };
  },

  async loadOutput(outputRef: string): Promise<unknown> {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: outputRef }));
    return JSON.parse((await response.Body?.transformToString('utf8')) ?? 'null') as unknown;
  },

  async storeArtifacts(address: AttemptAddress, artifacts: StepArtifact[]): Promise<ArtifactRecord[]> {
    return Promise.all(
      artifacts.map(async (artifact) => {
        const key = `${prefix(address)}/artifacts/${encodeURIComponent(artifact.name)}`;
        const body = typeof artifact.body === 'string' ? Buffer.from(artifact.body, 'utf8') : artifact.body;
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: artifact.contentType }));
        return { name: artifact.name, key, contentType: artifact.contentType, size: body.byteLength };
      }),
    );
  },

  /**
   * Keeps a verified webhook body for the reactions that run after it is accepted. The key
   * includes the body's hash, so a second body sent under the same delivery id (which is then
   * refused as a duplicate) cannot replace the first one.
   */
  async storeDeliveryPayload(projectId: string, provider: string, deliveryId: string, raw: Buffer): Promise<string> {
    const hash = createHash('sha256').update(raw).digest('hex').slice(0, 16);
    const key = `${artifactPrefix}${projectId}/deliveries/${provider}/${encodeURIComponent(deliveryId)}-${hash}.json`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: raw, ContentType: 'application/json' }));
    return key;
  },

  /** Map steps' items and results (shared/engine/map-store.ts, MapObjects): any key under `projects/`. */
  mapObjects: {
    async put(key: string, body: string, contentType: string): Promise<void> {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    },
    async get(key: string): Promise<string> {
      const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return (await response.Body?.transformToString('utf8')) ?? '';
    },
    uri: (key: string): string => `s3://${bucket}/${key}`,
  },

  /** A short-lived GET URL for an object Baton stored. */
  signedUrl(key: string): Promise<string> {
    return getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: signedUrlSeconds });
  },
});

export type ArtifactStore = ReturnType<typeof createArtifactStore>;

import { gunzipSync, gzipSync } from 'node:zlib';
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { StepSpec } from '#shared/domain/workflow';
import { keys } from './keys';

/**
 * A workflow version's steps, stored as one gzip stream of their JSON. A 365-step plan is a few
 * KB and stays on the version item (`stepsGz`); a 10,000-step one may pass DynamoDB's 400 KB
 * item limit (a generated 10,000-day plan is 236 KB gzipped; real text compresses less), so a
 * stream over `partBytes` is cut into parts: the version item keeps the first part and
 * `stepParts` (how many), the others are items of their own (`WFPART#<wf>#V#<version>#<n>`),
 * written in the same transaction as the version. Parts are read back in one BatchGetItem.
 */

/** Room for the version item's other attributes and the key beside a part, under 400 KB. */
export const partBytes = 350 * 1024;

export const packSteps = (steps: StepSpec[]): Uint8Array => gzipSync(JSON.stringify(steps));
export const unpackSteps = (value: Uint8Array): StepSpec[] => JSON.parse(gunzipSync(value).toString('utf8')) as StepSpec[];

/** The gzip stream in parts of at most `size` bytes (one part when it fits). */
export const cutIntoParts = (packed: Uint8Array, size = partBytes): Uint8Array[] => {
  const parts: Uint8Array[] = [];
  for (let start = 0; start < packed.length || parts.length === 0; start += size) parts.push(packed.subarray(start, start + size));
  return parts;
};

/** What the version item holds of its steps, and the extra part items to write beside it. */
export const packedVersion = (projectId: string, workflowId: string, version: number, steps: StepSpec[]) => {
  const [first, ...rest] = cutIntoParts(packSteps(steps));
  return {
    attributes: { stepsGz: first!, ...(rest.length ? { stepParts: rest.length + 1 } : {}) },
    parts: rest.map((gz, index) => ({ ...keys.workflowVersionPart(projectId, workflowId, version, index + 1), type: 'workflowPart', gz })),
  };
};

/** A version item's steps, reading its other parts when it has them. */
export async function stepsOfVersion(documents: DynamoDBDocumentClient, tableName: string, item: Record<string, unknown>): Promise<StepSpec[]> {
  const count = (item.stepParts as number | undefined) ?? 1;
  if (count <= 1) return unpackSteps(item.stepsGz as Uint8Array);
  const { projectId, workflowId, version } = item as { projectId: string; workflowId: string; version: number };
  const wanted = Array.from({ length: count - 1 }, (_, index) => keys.workflowVersionPart(projectId, workflowId, version, index + 1));
  const found = new Map<string, Uint8Array>();
  let request: Record<string, unknown>[] | undefined = wanted;
  // At most 99 extra parts (a transaction holds 100 items); unprocessed keys are asked again.
  while (request?.length) {
    const response = await documents.send(new BatchGetCommand({ RequestItems: { [tableName]: { Keys: request, ConsistentRead: true } } }));
    for (const part of response.Responses?.[tableName] ?? []) found.set(part.sk as string, part.gz as Uint8Array);
    request = response.UnprocessedKeys?.[tableName]?.Keys as Record<string, unknown>[] | undefined;
  }
  const rest = wanted.map(({ sk }) => {
    const part = found.get(sk);
    if (!part) throw new Error(`workflow ${workflowId} version ${version}: part ${sk} is missing`);
    return part;
  });
  return unpackSteps(Buffer.concat([item.stepsGz as Uint8Array, ...rest]));
}

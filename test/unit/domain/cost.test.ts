import { describe, expect, it } from 'vitest';
import { emptyUsage } from '#shared/clients/usage-meter';
import { defaultPrices, estimateCostUsd } from '#shared/domain/cost';

describe('cost estimate', () => {
  it('prices a run at the us-east-1 list prices', () => {
    const usage = {
      calls: { 'S3.PutObject': 2, 'S3.GetObject': 10, 'S3.DeleteObject': 4, 'SecretsManager.GetSecretValue': 2, 'KMS.Decrypt': 5, 'DynamoDB.TransactWriteItems': 3 },
      dynamodb: { readUnits: 8, writeUnits: 40 },
      sqsBillableRequests: 10,
      eventsPublished: 5,
      lambdaInvocations: 4,
    };

    const { totalUsd, breakdown } = estimateCostUsd(usage);

    // 40 × 0.625/M + 8 × 0.125/M + 10 × 0.40/M + 5 × 1/M + 2 × 0.005/1k + 10 × 0.0004/1k + 4 × 0.20/M + 2 × 0.05/10k + 5 × 0.03/10k
    // = 0.000025 + 0.000001 + 0.000004 + 0.000005 + 0.00001 + 0.000004 + 0.0000008 + 0.00001 + 0.000015 = 0.0000748
    expect(totalUsd).toBeCloseTo(0.0000748, 12);
    expect(breakdown.dynamodbWrites).toBeCloseTo(0.000025, 12);
    expect(breakdown.s3WriteRequests).toBeCloseTo(0.00001, 12);
    expect(breakdown.s3ReadRequests).toBeCloseTo(0.000004, 12);
    expect(breakdown.secretsManagerCalls).toBeCloseTo(0.00001, 12);
    expect(breakdown.kmsRequests).toBeCloseTo(0.000015, 12);
  });

  it('costs nothing for no usage', () => {
    expect(estimateCostUsd(emptyUsage()).totalUsd).toBe(0);
  });

  it('takes other prices, e.g. another region', () => {
    const usage = { ...emptyUsage(), dynamodb: { readUnits: 0, writeUnits: 1_000_000 } };

    expect(estimateCostUsd(usage, { ...defaultPrices, dynamodbWriteRequestUnit: 1 / 1_000_000 }).totalUsd).toBeCloseTo(1, 9);
  });
});

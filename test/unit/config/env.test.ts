import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, readConfig } from '#shared/config/env';
import { readStage } from '#infra/stage';

describe('readConfig', () => {
  const shape = { TABLE_NAME: z.string().min(1), BATCH: z.coerce.number().int().positive() };

  it('returns typed values', () => {
    expect(readConfig(shape, { TABLE_NAME: 't', BATCH: '10' })).toEqual({ TABLE_NAME: 't', BATCH: 10 });
  });

  it('fails fast naming every missing or malformed variable', () => {
    const read = () => readConfig(shape, { BATCH: 'many' });

    expect(read).toThrow(ConfigError);
    expect(read).toThrow(/TABLE_NAME/);
    expect(read).toThrow(/BATCH/);
  });
});

describe('readStage', () => {
  it('requires a stage and checks its form', () => {
    expect(() => readStage({})).toThrow(/No stage given/);
    expect(() => readStage({ stage: 'Prod!' })).toThrow(/Invalid stage/);
  });

  it('allows any origin locally and none elsewhere unless configured', () => {
    expect(readStage({ stage: 'local' })).toMatchObject({ name: 'local', isLocal: true, corsOrigins: ['*'] });
    expect(readStage({ stage: 'prod' })).toMatchObject({ name: 'prod', isLocal: false, corsOrigins: [] });
    expect(readStage({ stage: 'prod', corsOrigins: 'https://a.example, https://b.example' }).corsOrigins).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
  });

  it('reads extra agent functions as a comma-separated list (or a cdk.json list) of Lambda ARNs', () => {
    const arn = 'arn:aws:lambda:eu-west-1:444455556666:function:reviewer';
    expect(readStage({ stage: 'prod' }).agentFunctions).toEqual([]);
    expect(readStage({ stage: 'prod', agentFunctions: ` ${arn}, ${arn}:live ,` }).agentFunctions).toEqual([arn, `${arn}:live`]);
    expect(readStage({ stage: 'prod', agentFunctions: [`${arn.replace('reviewer', 'team-*')}`] }).agentFunctions).toHaveLength(1);
    expect(() => readStage({ stage: 'prod', agentFunctions: 'reviewer' })).toThrow(/Invalid agentFunctions entry "reviewer"/);
  });
});

import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNagChecks, buildBaton } from '#infra/app';
import { readStage } from '#infra/stage';

/** Synthesizes every Baton stack for a stage, with cdk-nag, into a fresh directory. */
export function synthesize(stageName: string, context: { agentFunctions?: string; alarmEmail?: string } = {}) {
  const outdir = mkdtempSync(join(tmpdir(), `baton-synth-${stageName}-`));
  const app = new App({ outdir, context: { '@aws-cdk/core:defaultCrossStackReferences': 'strong' } });
  const stacks = buildBaton(app, readStage({ stage: stageName, ...context }));
  addNagChecks(app);
  const assembly = app.synth();
  return {
    outdir,
    assembly,
    stacks,
    data: Template.fromStack(stacks.data),
    messaging: Template.fromStack(stacks.messaging),
    engine: Template.fromStack(stacks.engine),
    api: Template.fromStack(stacks.api),
    console: Template.fromStack(stacks.console),
    operations: Template.fromStack(stacks.operations),
  };
}

import type { components, operations } from './schema';

/** Names for the contract's schemas (generated into ./schema.ts from docs/openapi.json). */
type Schemas = components['schemas'];

export type ApiError = Schemas['Error'];
export type WhoAmI = Schemas['WhoAmI'];
export type Project = Schemas['Project'];
export type ProjectSettings = Schemas['ProjectSettings'];
export type Token = Schemas['Token'];
export type Workflow = Schemas['Workflow'];
export type SavedWorkflow = Schemas['SavedWorkflow'];
export type Run = Schemas['Run'];
export type RunDetail = Schemas['RunDetail'];
export type StepSummary = Schemas['StepSummary'];
export type StepDetail = Schemas['StepDetail'];
export type Event = Schemas['Event'];
export type Schedule = Schemas['Schedule'];

export type RunStatus = Run['status'];
export type StepStatus = StepSummary['status'];
export type CreateRunBody = NonNullable<operations['createRun']['requestBody']>['content']['application/json'];
export type SaveWorkflowBody = NonNullable<operations['saveWorkflow']['requestBody']>['content']['application/json'];

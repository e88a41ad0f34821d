/**
 * Run and step statuses and the transitions between them (DESIGN §1). Every write that changes a
 * status is conditional on the current one; these tables are the single source of what is legal.
 */
export const runStatuses = ['pending', 'running', 'paused', 'blocked', 'failed', 'cancelled', 'completed'] as const;
export type RunStatus = (typeof runStatuses)[number];

export const stepStatuses = ['pending', 'queued', 'running', 'needs_qa', 'completed', 'failed', 'cancelled', 'blocked', 'skipped'] as const;
export type StepStatus = (typeof stepStatuses)[number];

export const finalRunStatuses: readonly RunStatus[] = ['failed', 'cancelled', 'completed'];
export const finalStepStatuses: readonly StepStatus[] = ['completed', 'failed', 'cancelled', 'skipped'];

export const runActions = ['start', 'pause', 'resume', 'cancel', 'retry'] as const;
export type RunAction = (typeof runActions)[number];

/** From which statuses each run action is legal, and the status it leads to. */
export const runActionRules: Record<RunAction, { from: readonly RunStatus[]; to: RunStatus }> = {
  start: { from: ['pending'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['pending', 'running', 'paused', 'blocked'], to: 'cancelled' },
  retry: { from: ['blocked'], to: 'running' },
};

export const stepActions = ['approve', 'reject'] as const;
export type StepAction = (typeof stepActions)[number];

/** The API's 409 message for an action the run's status does not allow. */
export const illegalRunAction = (action: RunAction, status: RunStatus): string =>
  `Cannot ${action} a run that is ${status}; ${action} is allowed when the run is ${runActionRules[action].from.join(' or ')}`;

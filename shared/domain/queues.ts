/**
 * The installation's queues as operators see them (GET /v1/queues): stable short names, what each
 * is for, and what may be done to it. Peeking adds one to a message's receive count, so it is
 * offered only where nothing counts receives (no consumer, no redrive policy of its own); a
 * redrive needs a dead-letter queue of an SQS queue (SQS's message move task) and a consumer at
 * the other end that resumes what it moves.
 */
export const queueNames = ['steps', 'steps-dlq', 'steps-parked', 'reactions-dlq'] as const;
export type QueueName = (typeof queueNames)[number];

export interface QueueRole {
  purpose: string;
  deadLetter: boolean;
  /** Why it may not be peeked (absent: it may). */
  notPeekable?: string;
  /** Where a redrive moves its messages; otherwise why it cannot be redriven. */
  redrive: { to: QueueName } | { refused: string };
}

export const queueRoles: Record<QueueName, QueueRole> = {
  steps: {
    purpose: 'Step messages waiting for the step worker',
    deadLetter: false,
    notPeekable: 'its messages are the worker\'s: a peek counts as a receive, and the fifth receive dead-letters a message',
    redrive: { refused: 'not a dead-letter queue' },
  },
  'steps-dlq': {
    purpose: 'Step messages the worker failed on 5 times; the DLQ handler records each at once (step failed DEAD_LETTERED, run blocked) and parks it in steps-parked',
    deadLetter: true,
    notPeekable: 'the DLQ handler consumes it within seconds, and a peek counts toward parking a message unrecorded; recorded dead letters are in steps-parked',
    redrive: { refused: 'the DLQ handler consumes it; redrive steps-parked, where the dead letters it recorded are kept' },
  },
  'steps-parked': {
    purpose: 'Dead letters kept for operators (14 days): recorded by the DLQ handler, or parked unrecorded after it failed on them 10 times',
    deadLetter: true,
    redrive: { to: 'steps' },
  },
  'reactions-dlq': {
    purpose: 'Webhook reactions that failed after their retries (Lambda on-failure records and EventBridge dead letters)',
    deadLetter: true,
    redrive: { refused: 'its messages come from Lambda and EventBridge, not from an SQS queue, so SQS cannot move them back; send the event in each to the bus again' },
  },
};

/** Where a queue lives, as the API function is told (QUEUES). */
export interface QueueAddress {
  name: QueueName;
  url: string;
  arn: string;
}

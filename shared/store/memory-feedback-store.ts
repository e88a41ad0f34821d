import { averageScore } from '#shared/domain/feedback';
import type { FeedbackRecord, FeedbackStore } from '#shared/engine/feedback';
import type { CommittedEvent } from './event-outbox';
import { keys } from './keys';

/** Feedback in memory, with the DynamoDB store's semantics (unit tests). */
export function createMemoryFeedbackStore() {
  const records: FeedbackRecord[] = [];
  const events: CommittedEvent[] = [];
  const store: FeedbackStore = {
    async record(feedback, { event, publish }) {
      records.push(structuredClone(feedback));
      const committed: CommittedEvent = { key: keys.runEvent(feedback.runId, event.id), event, ...(publish ? {} : { publish: false }) };
      events.push(committed);
      return [committed];
    },
    list: async (runId, stepId) => records.filter((entry) => entry.runId === runId && (!stepId || entry.stepId === stepId)).map((entry) => structuredClone(entry)),
    async averages(projectId, workflowId) {
      const byVersion = new Map<number, { count: number; sum: number }>();
      for (const entry of records.filter((candidate) => candidate.projectId === projectId && candidate.workflowId === workflowId)) {
        const totals = byVersion.get(entry.workflowVersion) ?? { count: 0, sum: 0 };
        byVersion.set(entry.workflowVersion, { count: totals.count + 1, sum: totals.sum + entry.score });
      }
      return [...byVersion.entries()].sort(([a], [b]) => a - b).map(([version, { count, sum }]) => ({ workflowId, version, count, averageScore: averageScore(count, sum) }));
    },
  };
  return { store, events: () => events.map((entry) => entry.event) };
}

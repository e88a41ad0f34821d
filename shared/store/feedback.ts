import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { averageScore } from '#shared/domain/feedback';
import type { FeedbackAverage, FeedbackRecord, FeedbackStore } from '#shared/engine/feedback';
import { feedbackKeys, feedbackPrefix, feedbackTotalsPrefix } from './keys';
import { queryPrefix } from './query';
import { createTransaction } from './transaction';

const record = (item: Record<string, unknown>): FeedbackRecord => {
  const { pk: _pk, sk: _sk, type: _type, ...rest } = item;
  return rest as unknown as FeedbackRecord;
};

/**
 * Feedback in the table: one item per record (`RUN#r / FEEDBACK#<step>#<fbk_…>`) and one per
 * workflow version (`PROJECT#p / FEEDBACKAVG#<wf>#V#<version>`: `count` and `scoreSum`, added to
 * in the record's own transaction, with its event), so the average never needs a scan.
 */
export function createFeedbackStore({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }): FeedbackStore {
  return {
    async record(feedback, { event, publish }) {
      const tx = createTransaction(documents, tableName);
      tx.put({ ...feedbackKeys.record(feedback.runId, feedback.stepId, feedback.id), type: 'feedback', ...feedback }, 'attribute_not_exists(pk)');
      tx.update(feedbackKeys.versionTotals(feedback.projectId, feedback.workflowId, feedback.workflowVersion), {
        set: { type: 'feedbackTotals', workflowId: feedback.workflowId, version: feedback.workflowVersion },
        add: { count: 1, scoreSum: feedback.score },
      });
      tx.event({ pk: `RUN#${feedback.runId}`, sk: `EVENT#${event.id}` }, event, publish);
      return tx.commit();
    },
    async list(runId, stepId) {
      const items = await queryPrefix(documents, tableName, `RUN#${runId}`, feedbackPrefix(stepId));
      return items.map(record).sort((a, b) => a.id.localeCompare(b.id));
    },
    async averages(projectId, workflowId): Promise<FeedbackAverage[]> {
      const items = await queryPrefix(documents, tableName, `PROJECT#${projectId}`, feedbackTotalsPrefix(workflowId));
      return items.map((item) => ({ workflowId, version: item.version as number, count: item.count as number, averageScore: averageScore(item.count as number, item.scoreSum as number) }));
    },
  };
}

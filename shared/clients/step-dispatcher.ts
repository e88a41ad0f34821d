import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { maxQueueDelaySeconds, type Dispatch, type Dispatcher } from '#shared/engine/dispatch';
import { currentCorrelation } from '#shared/middleware/correlation';

/** SQS takes at most 10 messages in one SendMessageBatch request. */
const entriesPerRequest = 10;
/** Requests in flight at once when a transition releases many steps (a wide fan). */
const requestsInFlight = 4;
/** Further tries of the entries SQS refused for its own reasons (throttling, internal errors). */
const retriesOfRefused = 3;

interface Waiting {
  dispatches: Dispatch[];
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The messages with the request id of the work sending them (an API request, or the step message
 * being handled, which had it from its own sender): one correlation id from the request through
 * the queue to every step it causes. A message that names its own keeps it.
 */
const correlated = (dispatches: Dispatch[]): Dispatch[] => {
  const requestId = currentCorrelation()?.requestId;
  if (!requestId) return dispatches;
  return dispatches.map((dispatch) => (dispatch.message.requestId ? dispatch : { ...dispatch, message: { ...dispatch.message, requestId } }));
};

const entryOf = ({ message, delaySeconds }: Dispatch, id: string): SendMessageBatchRequestEntry => ({
  Id: id,
  MessageBody: JSON.stringify(message),
  DelaySeconds: Math.max(0, Math.min(maxQueueDelaySeconds, Math.ceil(delaySeconds ?? 0))),
});

/**
 * Sends step messages to the step queue in SendMessageBatch requests of 10. Sends asked for
 * within `gatherMs` of each other (the records of one invocation run in parallel, each finishing
 * its transition) share requests; every caller hears only about its own messages. Entries SQS
 * refuses for its own reasons are tried again; what still fails (or a request that failed
 * outright) rejects only the callers whose messages they were, after every other message went:
 * their step message is then redelivered and sends again (a redelivery re-releases), so nothing
 * committed as queued is left behind by someone else's failure.
 */
export const createDispatcher = ({ sqs, queueUrl, gatherMs = 10 }: { sqs: SQSClient; queueUrl: string; gatherMs?: number }): Dispatcher => {
  let waiting: Waiting[] = [];
  let timer: NodeJS.Timeout | undefined;

  /** One request, refused entries tried again; answers the ids still refused, with why. */
  const sendRequest = async (entries: SendMessageBatchRequestEntry[]): Promise<Map<string, string>> => {
    let left = entries;
    const refused = new Map<string, string>();
    for (let tries = 0; left.length > 0; tries += 1) {
      const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: left }));
      const failures = result.Failed ?? [];
      // The sender's fault (a malformed entry) will not change on a retry.
      for (const failure of failures) if (failure.SenderFault || tries >= retriesOfRefused) refused.set(failure.Id!, `${failure.Code}: ${failure.Message ?? ''}`);
      const again = new Set(failures.filter((failure) => !refused.has(failure.Id!)).map((failure) => failure.Id));
      left = left.filter((entry) => again.has(entry.Id));
    }
    return refused;
  };

  const flush = async (callers: Waiting[]): Promise<void> => {
    // Entry ids name the caller and its message, so a refusal goes back to whoever sent it.
    const entries = callers.flatMap((caller, c) => caller.dispatches.map((dispatch, d) => ({ caller: c, entry: entryOf(dispatch, `${c}_${d}`) })));
    const requests: (typeof entries)[] = [];
    for (let start = 0; start < entries.length; start += entriesPerRequest) requests.push(entries.slice(start, start + entriesPerRequest));
    const failures = new Map<number, string[]>();
    const fail = (caller: number, reason: string) => failures.set(caller, [...(failures.get(caller) ?? []), reason]);
    await Promise.all(
      Array.from({ length: Math.min(requestsInFlight, requests.length) }, async () => {
        for (let request = requests.shift(); request; request = requests.shift()) {
          // Ids unique within one request, as SQS wants them.
          const byId = new Map(request.map((item, index) => [String(index), item]));
          try {
            const refused = await sendRequest(request.map((item, index) => ({ ...item.entry, Id: String(index) })));
            for (const [id, reason] of refused) fail(byId.get(id)!.caller, `${byId.get(id)!.entry.Id} ${reason}`);
          } catch (error) {
            for (const item of request) fail(item.caller, `${item.entry.Id} ${(error as Error).name}: ${(error as Error).message}`);
          }
        }
      }),
    );
    callers.forEach((caller, c) => {
      const reasons = failures.get(c);
      if (reasons) caller.reject(new Error(`SQS did not take ${reasons.length} of ${caller.dispatches.length} step message(s): ${reasons.join('; ')}`));
      else caller.resolve();
    });
  };

  return {
    /** Resolves once every message of `dispatches` is on the queue; rejects naming those that are not. */
    send(dispatches: Dispatch[]): Promise<void> {
      if (dispatches.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        // Stamped now, in the sender's async context: the request goes out later, from a timer.
        waiting.push({ dispatches: correlated(dispatches), resolve, reject });
        timer ??= setTimeout(() => {
          const callers = waiting;
          waiting = [];
          timer = undefined;
          void flush(callers);
        }, gatherMs);
      });
    },
  };
};


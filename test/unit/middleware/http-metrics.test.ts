import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/domain/errors';
import { httpStack, json } from '#shared/middleware/http';
import { httpEvent, lambdaContext } from '../../fixtures/lambda';
import { silentLogger } from '../../helpers/fakes';
import { recordedMetrics } from '../../helpers/recorded-metrics';

/** The HTTP stack counts every request by status class with its latency, and publishes the invocation's metrics as it answers. */
describe('httpStack metrics', () => {
  const setup = () => {
    const metrics = recordedMetrics();
    let publishes = 0;
    const handler = httpStack(
      async (event) => {
        if (event.rawPath === '/bad') throw new ValidationError('body.name: required', 'body.name');
        if (event.rawPath === '/boom') throw new Error('a bug');
        return json(200, { ok: true });
      },
      { logger: silentLogger(), corsOrigins: [], metrics: { ...metrics.recorder, publish: () => void (publishes += 1) } },
    );
    return { handler, metrics, publishes: () => publishes };
  };

  it('counts ApiRequests and ApiLatency by the status class of the answer, errors mapped, and publishes once per request', async () => {
    const { handler, metrics, publishes } = setup();

    expect((await handler(httpEvent('GET', '/ok'), lambdaContext())).statusCode).toBe(200);
    expect((await handler(httpEvent('POST', '/bad', { body: {} }), lambdaContext())).statusCode).toBe(400);
    expect((await handler(httpEvent('GET', '/boom'), lambdaContext())).statusCode).toBe(500);

    expect(metrics.of('ApiRequests')).toEqual([
      { name: 'ApiRequests', dimensions: { statusClass: '2xx' }, value: 1 },
      { name: 'ApiRequests', dimensions: { statusClass: '4xx' }, value: 1 },
      { name: 'ApiRequests', dimensions: { statusClass: '5xx' }, value: 1 },
    ]);
    expect(metrics.of('ApiLatency').map((point) => point.dimensions)).toEqual([{ statusClass: '2xx' }, { statusClass: '4xx' }, { statusClass: '5xx' }]);
    expect(metrics.of('ApiLatency').every((point) => point.value >= 0)).toBe(true);
    expect(publishes()).toBe(3);
  });
});

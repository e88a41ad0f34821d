import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/domain/errors';
import { generateCallbackToken, hashCallbackToken } from '#shared/domain/callback-tokens';
import { callbackDueAt, callbackTokenPattern, callbackUrls } from '#shared/domain/callbacks';
import { assertCallbackSettings } from '#shared/domain/workflow';
import { agentReplyOutcome, parseAgentReply } from '#shared/executors/agent-reply';
import { reachableApiUrl } from '#shared/config/emulator-gaps';

describe('callback tokens', () => {
  it('are 256 random bits, URL-safe, never repeated, and stored only as their SHA-256', () => {
    const tokens = Array.from({ length: 200 }, generateCallbackToken);

    expect(new Set(tokens).size).toBe(tokens.length);
    for (const token of tokens) {
      expect(token).toMatch(callbackTokenPattern);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    }
    const hash = hashCallbackToken(tokens[0]!);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(tokens[0]);
    expect(hashCallbackToken(tokens[0]!)).toBe(hash);
  });

  it('become absolute callback and heartbeat URLs on the API', () => {
    expect(callbackUrls('https://abc.execute-api.eu-west-1.amazonaws.com/', 'T'.repeat(43))).toEqual({
      url: `https://abc.execute-api.eu-west-1.amazonaws.com/v1/callbacks/${'T'.repeat(43)}`,
      heartbeatUrl: `https://abc.execute-api.eu-west-1.amazonaws.com/v1/callbacks/${'T'.repeat(43)}/heartbeat`,
    });
  });

  it('use the API endpoint on AWS and the emulator path form locally', () => {
    expect(reachableApiUrl('https://abc123.execute-api.eu-west-1.amazonaws.com', undefined)).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com');
    expect(reachableApiUrl('http://ba7017a1.execute-api.127.0.0.1:4566', 'http://127.0.0.1:4566')).toBe('http://127.0.0.1:4566/_aws/execute-api/ba7017a1');
  });
});

describe('the wait of a pending step', () => {
  const start = new Date('2026-11-30T10:00:00Z');
  const deadline = new Date('2026-11-30T11:00:00Z');

  it('is due at the next heartbeat, never past the deadline, or at the deadline without heartbeats', () => {
    expect(callbackDueAt(start, deadline, 30).toISOString()).toBe('2026-11-30T10:00:30.000Z');
    expect(callbackDueAt(new Date('2026-11-30T10:59:50Z'), deadline, 30).toISOString()).toBe(deadline.toISOString());
    expect(callbackDueAt(start, deadline, undefined).toISOString()).toBe(deadline.toISOString());
  });

  it('is asked for by an agent reply with pending: true (with its usage), not by ok: false', () => {
    expect(agentReplyOutcome(parseAgentReply({ ok: true, pending: true, usage: { costUsd: 0.1 } }, {}), { who: 'agent', details: {} })).toEqual({ status: 'pending', usage: { costUsd: 0.1 } });
    expect(() => agentReplyOutcome(parseAgentReply({ ok: false, pending: true, error: 'no' }, {}), { who: 'agent', details: {} })).toThrow('no');
  });
});

describe('callback settings of a step', () => {
  const fieldOf = (check: () => void) => {
    try {
      check();
    } catch (error) {
      if (error instanceof ValidationError) return error.field;
      throw error;
    }
    return undefined;
  };

  it('are for http and lambda steps only, the heartbeat within the whole wait', () => {
    expect(fieldOf(() => assertCallbackSettings([{ kind: 'http', callbackTimeoutSeconds: 3600, heartbeatSeconds: 60 }, { kind: 'lambda', heartbeatSeconds: 60 }]))).toBeUndefined();
    expect(fieldOf(() => assertCallbackSettings([{ kind: 'noop' }, { kind: 'approval', callbackTimeoutSeconds: 60 }]))).toBe('body.steps[1].callbackTimeoutSeconds');
    expect(fieldOf(() => assertCallbackSettings([{ kind: 'http', callbackTimeoutSeconds: 60, heartbeatSeconds: 61 }]))).toBe('body.steps[0].heartbeatSeconds');
    expect(fieldOf(() => assertCallbackSettings([{ kind: 'http', heartbeatSeconds: 2 * 24 * 3600 }]))).toBe('body.steps[0].heartbeatSeconds');
  });
});

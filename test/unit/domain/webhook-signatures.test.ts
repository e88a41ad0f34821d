import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyGithubSignature, verifyGitlabToken, verifySignedDelivery } from '#shared/domain/webhook-signatures';

describe('GitHub webhook signatures', () => {
  // GitHub's published test vector (docs: "Validating webhook deliveries").
  const secret = "It's a Secret to Everybody";
  const body = 'Hello, World!';
  const signature = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

  it('verifies the published test vector', () => {
    expect(verifyGithubSignature(body, signature, [secret])).toBe(true);
  });

  it('fails when one byte of the body changes, or with another secret', () => {
    expect(verifyGithubSignature('Hello, World?', signature, [secret])).toBe(false);
    expect(verifyGithubSignature(body, signature, ['another secret'])).toBe(false);
  });

  it('accepts either secret during a rotation, and refuses a missing or malformed header', () => {
    expect(verifyGithubSignature(body, signature, ['new secret', secret])).toBe(true);
    expect(verifyGithubSignature(body, undefined, [secret])).toBe(false);
    expect(verifyGithubSignature(body, 'sha1=757107ea', [secret])).toBe(false);
  });
});

describe('GitLab webhooks', () => {
  it('compares the shared X-Gitlab-Token', () => {
    expect(verifyGitlabToken('s3cret-token', ['s3cret-token'])).toBe(true);
    expect(verifyGitlabToken('s3cret-tokem', ['s3cret-token'])).toBe(false);
    expect(verifyGitlabToken(undefined, ['s3cret-token'])).toBe(false);
  });

  describe('signed form (webhook-id, webhook-timestamp, webhook-signature)', () => {
    const secret = 'gitlab-signing-secret';
    const id = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
    const now = new Date('2026-11-21T12:00:00Z');
    const timestamp = String(Math.floor(now.getTime() / 1000));
    const body = '{"object_kind":"pipeline","object_attributes":{"status":"success"}}';
    const sign = (payloadBody: string, at = timestamp, key = secret) =>
      `v1,${createHmac('sha256', key).update(`${id}.${at}.${payloadBody}`).digest('base64')}`;

    it('verifies a signature over id.timestamp.body', () => {
      expect(verifySignedDelivery(body, { id, timestamp, signature: sign(body) }, [secret], { now })).toEqual({ ok: true });
    });

    it('fails a one-byte change, a wrong secret, and a missing header', () => {
      expect(verifySignedDelivery(`${body} `, { id, timestamp, signature: sign(body) }, [secret], { now })).toEqual({ ok: false, reason: 'mismatch' });
      expect(verifySignedDelivery(body, { id, timestamp, signature: sign(body, timestamp, 'other') }, [secret], { now })).toEqual({ ok: false, reason: 'mismatch' });
      expect(verifySignedDelivery(body, { id, timestamp, signature: undefined }, [secret], { now })).toEqual({ ok: false, reason: 'missing' });
    });

    it('refuses a replay outside the window even with a valid signature', () => {
      const old = String(Number(timestamp) - 301);

      expect(verifySignedDelivery(body, { id, timestamp: old, signature: sign(body, old) }, [secret], { now })).toEqual({ ok: false, reason: 'stale' });
    });

    it('accepts any of several signatures in the header', () => {
      const signature = `v1,AAAA ${sign(body)}`;

      expect(verifySignedDelivery(body, { id, timestamp, signature }, [secret], { now })).toEqual({ ok: true });
    });
  });
});

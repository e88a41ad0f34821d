import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits, URL-safe (43 characters; see callbackTokenPattern in callbacks.ts). */
export const generateCallbackToken = (): string => randomBytes(32).toString('base64url');

/** What is stored of a callback token: its SHA-256, never the token. */
export const hashCallbackToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

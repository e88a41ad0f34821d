import { z } from 'zod';

/**
 * Project secrets are referenced, never inlined: wherever a credential goes in a step's input
 * (`http` bearerToken and header values, `llm` apiKey) the workflow holds `{"$secret": "<name>"}`.
 * The value is resolved only inside the worker, at the moment of the call (DESIGN §7).
 */
export const secretNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export const secretName = z
  .string()
  .regex(secretNamePattern, 'must be 1-128 letters, digits, "_", "." or "-", starting with a letter or digit');

/** `{"$secret": "<name>"}`: a reference to a project secret. */
export const secretRef = z.strictObject({ $secret: secretName });
export type SecretRef = z.infer<typeof secretRef>;

export const isSecretRef = (value: unknown): value is SecretRef => secretRef.safeParse(value).success;

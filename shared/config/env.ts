import { z } from 'zod';

/** Thrown at cold start when a function's environment is incomplete; names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads and checks environment variables once, at cold start.
 * A missing or malformed variable fails fast with its name, never with a silent default.
 */
export function readConfig<Shape extends z.ZodRawShape>(
  shape: Shape,
  env: Record<string, string | undefined> = process.env,
): z.infer<z.ZodObject<Shape>> {
  const parsed = z.object(shape).safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new ConfigError(`Invalid environment: ${problems}`);
  }
  return parsed.data;
}

/** Variables every Baton function receives from the BatonFunction construct. */
export const baseEnv = {
  BATON_STAGE: z.string().regex(/^[a-z][a-z0-9-]{1,15}$/),
  POWERTOOLS_SERVICE_NAME: z.string().min(1),
};

/**
 * Free-form JSON from users and agents (run and step inputs, step outputs, schedule inputs) is
 * stored as one JSON string attribute, not as a DynamoDB map: a map refuses what JSON allows
 * (nesting beyond 32 levels, numbers beyond ±1e125 or with more than 38 digits, integers past
 * 2^53 through the document client), and a string round-trips exactly what JavaScript parsed.
 */
export const jsonAttribute = {
  encode: (value: unknown): string => JSON.stringify(value ?? null),
  decode: (text: unknown): unknown => (typeof text === 'string' ? (JSON.parse(text) as unknown) : undefined),
};

/** Sets `name`Json from `value` when it is defined (for spreading into an item). */
export const jsonField = (name: 'input' | 'output', value: unknown): Record<string, string> =>
  value === undefined ? {} : { [`${name}Json`]: jsonAttribute.encode(value) };

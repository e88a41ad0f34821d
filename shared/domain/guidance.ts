/**
 * A person's guidance for a re-run (issue 12 §4), added to the step's input where its kind reads
 * it: an `llm` step's prompt (or a last user message), an `http` agent's `body`, a `lambda`
 * agent's `payload`, any other object input as `guidance`. The executor's schema then checks the
 * result like any new input. Undefined when the input has no place for it.
 */
export function applyGuidance(kind: string, input: unknown, guidance: string): unknown {
  const note = `Guidance for this re-run: ${guidance}`;
  const object = input !== null && typeof input === 'object' && !Array.isArray(input) ? (input as Record<string, unknown>) : undefined;
  if (kind === 'llm' && object) {
    if (Array.isArray(object.messages)) return { ...object, messages: [...(object.messages as unknown[]), { role: 'user', content: note }] };
    if (typeof object.prompt === 'string') return { ...object, prompt: `${object.prompt}\n\n${note}` };
    return undefined;
  }
  const into = kind === 'http' ? 'body' : kind === 'lambda' ? 'payload' : undefined;
  if (into && object) {
    const inner = object[into];
    if (inner === undefined) return { ...object, [into]: { guidance } };
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) return { ...object, [into]: { ...(inner as Record<string, unknown>), guidance } };
    return undefined;
  }
  if (input === undefined || input === null) return { guidance };
  return object ? { ...object, guidance } : undefined;
}

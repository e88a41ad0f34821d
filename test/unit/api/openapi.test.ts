import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openApiDocumentText } from '#functions/api/contract';

interface OperationObject {
  operationId: string;
  security?: unknown[];
  responses: Record<string, unknown>;
}
type Document = { openapi: string; paths: Record<string, Record<string, OperationObject>> };

const generated = openApiDocumentText();
const document = JSON.parse(generated) as Document;
const operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, ...op })));

describe('the OpenAPI document', () => {
  it('in the repository is the one the code generates (run `npm run openapi` after changing a schema)', () => {
    expect(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')).toBe(generated);
  });

  it('is OpenAPI 3.1 with one unique operationId per operation', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(new Set(operations.map((op) => op.operationId)).size).toBe(operations.length);
    expect(operations.length).toBeGreaterThanOrEqual(20);
  });

  it('requires a bearer token everywhere but health and the callbacks (their token is in the path), and documents 401 and 429 there', () => {
    for (const op of operations) {
      const open = op.path === '/health' || op.path.startsWith('/v1/callbacks/{token}');
      expect(op.security, op.operationId).toEqual(open ? [] : [{ bearer: [] }]);
      if (!open) expect(Object.keys(op.responses), op.operationId).toEqual(expect.arrayContaining(['401', '429']));
    }
  });

  it('refuses unknown fields in every JSON request body', () => {
    const bodies = operations.flatMap((op) => {
      const body = (op as unknown as { requestBody?: { content: Record<string, { schema: { additionalProperties?: unknown; $ref?: string } }> } }).requestBody;
      return body?.content['application/json'] ? [{ id: op.operationId, schema: body.content['application/json'].schema }] : [];
    });
    expect(bodies.length).toBeGreaterThan(5);
    for (const { id, schema } of bodies) expect(schema.additionalProperties, id).toBe(false);
  });
});

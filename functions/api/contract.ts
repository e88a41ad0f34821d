import type { EngineDeps } from '#shared/engine/context';
import { buildOpenApiDocument } from './openapi';
import { apiOperations, type ApiDeps } from './routes';

/**
 * The API contract without any AWS: the operations only need their dependencies at call time,
 * so the document is built from declarations alone (for the repository file and its test).
 */
export function openApiDocumentText(): string {
  const unused = new Proxy({}, { get: () => { throw new Error('the contract does not call dependencies'); } });
  const deps = { stage: 'contract', engine: unused as EngineDeps, defaultRateLimit: { perSecond: 1, burst: 1 }, checkResponses: false } as unknown as ApiDeps;
  return `${JSON.stringify(buildOpenApiDocument(apiOperations(deps)), null, 2)}\n`;
}

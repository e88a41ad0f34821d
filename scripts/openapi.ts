/**
 * Writes the API's OpenAPI 3.1 document to docs/openapi.json, generated from the same zod
 * schemas the handlers validate with (test/unit/api/openapi.test.ts fails when it is stale).
 * Usage: npm run openapi
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiDocumentText } from '../functions/api/contract';
import { root } from './lib/paths';

const target = join(root, 'docs', 'openapi.json');
writeFileSync(target, openApiDocumentText());
console.log(`Wrote ${target}`);

/**
 * Writes the API's OpenAPI 3.1 document to docs/openapi.json, generated from the same zod
 * schemas the handlers validate with, and the SDK's types generated from that document
 * (test/unit/api/openapi.test.ts and test/unit/sdk/generated.test.ts fail when either is stale).
 * Usage: npm run openapi
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiDocumentText } from '../functions/api/contract';
import { root } from './lib/paths';
import { sdkTypesPath, sdkTypesText } from './lib/sdk-types';

const document = openApiDocumentText();
const target = join(root, 'docs', 'openapi.json');
writeFileSync(target, document);
console.log(`Wrote ${target}`);

const types = join(root, sdkTypesPath);
writeFileSync(types, await sdkTypesText(document));
console.log(`Wrote ${types}`);

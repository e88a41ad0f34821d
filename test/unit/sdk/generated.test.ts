import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openApiDocumentText } from '#functions/api/contract';
import { sdkTypesPath, sdkTypesText } from '../../../scripts/lib/sdk-types';

describe("the SDK's generated types", () => {
  it('are the ones openapi-typescript generates from the current contract (run `npm run openapi` after changing a route or schema)', async () => {
    const committed = readFileSync(new URL(`../../../${sdkTypesPath}`, import.meta.url), 'utf8');
    expect(committed).toBe(await sdkTypesText(openApiDocumentText()));
  }, 30_000);
});

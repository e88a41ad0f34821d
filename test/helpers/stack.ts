import { readStackInfo, type StackInfo } from '../../scripts/lib/stack';

/** The deployed stack the e2e suite talks to (written by the deploy step of `npm test`). */
export const stack: StackInfo = readStackInfo();

import { createMemoryProjectCounterStore } from '#shared/store/memory-project-counters';
import { describeProjectCounterContract } from '#test/helpers/project-counters-contract';

describeProjectCounterContract('in memory', () => createMemoryProjectCounterStore());

import { refersToItem, itemsSource, mapInput, type MapInput } from '#shared/domain/map-step';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import type { Executor } from '#shared/executors/types';

/**
 * `map`: runs its `step` template once per item (shared/domain/map-step.ts). Its input is checked
 * here like any kind's; it is not run by an executor but by the engine, which fans its children
 * out (shared/engine/map-step.ts): `run` is never reached.
 */
export const mapExecutor: Executor<MapInput> = {
  kind: 'map',
  input: mapInput,
  ignoresDependencyOutputs: true,
  checkStep(input, { dependsOn }) {
    const source = itemsSource(input);
    if ('from' in source && !dependsOn.includes(source.from)) {
      return { path: ['items', 'from'], message: `"${source.from}" must be one of this step's dependsOn (${dependsOn.length ? dependsOn.join(', ') : 'none'})` };
    }
    return undefined;
  },
  async run() {
    throw new NonRetryableStepError('map steps are run by the engine, not an executor', { code: 'MAP_NOT_EXECUTABLE' });
  },
};

/** Whether the template's own input can be checked by its kind now (it does not depend on the item). */
export const checkableTemplate = (input: MapInput): boolean => !refersToItem(input.step.input);

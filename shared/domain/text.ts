import { z } from 'zod';

/**
 * A string bounded in characters as JSON Schema counts them (code points, so an emoji is one),
 * where zod's own min/max count UTF-16 units: the published contract and the validation agree,
 * which is what lets a fuzzer (and a client) trust the document.
 */
export const text = (min: number, max: number) =>
  z
    .string()
    .refine((value) => {
      const length = [...value].length;
      return length >= min && length <= max;
    }, min > 0 ? `must be ${min} to ${max} characters` : `must be at most ${max} characters`)
    .meta({ ...(min > 0 ? { minLength: min } : {}), maxLength: max });

/** One place where two JSON values differ: a path (`$` for the whole value, `a.b[2]`), and each side's value (absent: missing there). */
export interface JsonChange {
  path: string;
  a?: unknown;
  b?: unknown;
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const keyPath = (path: string, key: string) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`);
/** Values larger than this (as JSON) are shown as a preview string ending in `…`. */
const maxValueLength = 1000;
const shown = (value: unknown): unknown => {
  const text = JSON.stringify(value);
  return text.length > maxValueLength ? `${text.slice(0, maxValueLength)}…` : value;
};

/**
 * Where two JSON values differ, depth first, objects by key and arrays by index, at most `limit`
 * changes (`truncated` when there were more). Equal values give no change.
 */
export function jsonDiff(a: unknown, b: unknown, limit = 20): { equal: boolean; changes: JsonChange[]; truncated?: true } {
  const changes: JsonChange[] = [];
  let truncated = false;
  const walk = (left: unknown, right: unknown, path: string): void => {
    if (truncated) return;
    if (isObject(left) && isObject(right)) {
      for (const key of [...new Set([...Object.keys(left), ...Object.keys(right)])].sort()) walk(left[key], right[key], keyPath(path, key));
      return;
    }
    if (Array.isArray(left) && Array.isArray(right)) {
      for (let index = 0; index < Math.max(left.length, right.length); index += 1) walk(left[index], right[index], `${path}[${index}]`);
      return;
    }
    if (JSON.stringify(left) === JSON.stringify(right)) return;
    if (changes.length >= limit) {
      truncated = true;
      return;
    }
    changes.push({ path: path || '$', ...(left !== undefined ? { a: shown(left) } : {}), ...(right !== undefined ? { b: shown(right) } : {}) });
  };
  walk(a, b, '');
  return { equal: changes.length === 0, changes, ...(truncated ? { truncated: true as const } : {}) };
}

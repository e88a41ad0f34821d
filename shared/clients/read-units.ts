/**
 * DynamoDB's read billing, worked out from what a read returned: for a read that comes back
 * without `ConsumedCapacity` although the meter asked for it (MiniStack 1.5.33's BatchGetItem:
 * infra/emulator-gaps.ts). AWS returns the capacity whenever it is asked, and then the meter takes
 * that. The rules (DynamoDB developer guide, "Read request units"): a GetItem bills its item's size
 * rounded up to 4 KB, one unit per 4 KB; a Query or Scan the sum of the sizes of the items it
 * returns, rounded up once; BatchGetItem each item as a GetItem; a read of an item that does not
 * exist still one unit; eventually consistent reads half; transactional reads double.
 *
 * Sizes are those of the document client's values (the meter sits on its stack, above
 * marshalling): a string or binary its bytes, a number 1 byte per two significant digits plus 1,
 * a boolean or null 1 byte, a list or map 3 bytes plus 1 per element (a map's keys counted as
 * names), a set the sum of its members; an item the sum of its names' bytes and its values' sizes.
 * What the estimate cannot see it leaves out: a projection or a filter bills the items as stored
 * before them (the estimate counts what came back: a lower bound), and a `Select: COUNT` query,
 * which returns no item, is counted as one read.
 */

const readUnitBytes = 4096;
const encoder = new TextEncoder();

const utf8Length = (text: string): number => encoder.encode(text).length;

/** Significant digits of a number's decimal form (leading and trailing zeros trimmed). */
const significantDigits = (decimal: string): number => {
  const mantissa = decimal.replace(/^-/, '').replace(/e.*$/i, '').replace('.', '');
  return mantissa.replace(/^0+/, '').replace(/0+$/, '').length;
};

const numberBytes = (value: number | bigint): number => Math.ceil(significantDigits(String(value)) / 2) + 1;

/** The size DynamoDB bills for one attribute value, as the document client hands it over. */
export function valueBytes(value: unknown): number {
  if (typeof value === 'string') return utf8Length(value);
  if (typeof value === 'number' || typeof value === 'bigint') return numberBytes(value);
  if (typeof value === 'boolean' || value === null || value === undefined) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) return [...(value as Set<unknown>)].reduce((sum: number, member) => sum + valueBytes(member), 0);
  if (Array.isArray(value)) return value.reduce((sum: number, element) => sum + 1 + valueBytes(element), 3);
  if (typeof value === 'object') return Object.entries(value).reduce((sum, [name, element]) => sum + 1 + utf8Length(name) + valueBytes(element), 3);
  return 0;
}

/** An item's size: each attribute's name and value. */
export const itemBytes = (item: Record<string, unknown>): number =>
  Object.entries(item).reduce((sum, [name, value]) => sum + utf8Length(name) + valueBytes(value), 0);

/** Read units for this many bytes read at once (at least one unit), halved when eventually consistent. */
const unitsFor = (bytes: number, consistent: boolean): number => Math.max(1, Math.ceil(bytes / readUnitBytes)) * (consistent ? 1 : 0.5);

const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
const asItems = (value: unknown): Record<string, unknown>[] => (Array.isArray(value) ? value.map(asRecord) : []);
const keyCount = (request: unknown): number => (Array.isArray(asRecord(request).Keys) ? (asRecord(request).Keys as unknown[]).length : 0);

/**
 * The read units a successful read consumed by DynamoDB's rules, from its input and output;
 * undefined for an operation that is not a read.
 */
export function estimateReadUnits(operation: string, input: Record<string, unknown>, output: Record<string, unknown>): number | undefined {
  switch (operation) {
    case 'GetItem': {
      const item = output.Item === undefined ? undefined : asRecord(output.Item);
      return unitsFor(item ? itemBytes(item) : 0, input.ConsistentRead === true);
    }
    case 'Query':
    case 'Scan':
      return unitsFor(asItems(output.Items).reduce((sum, item) => sum + itemBytes(item), 0), input.ConsistentRead === true);
    case 'BatchGetItem': {
      let units = 0;
      for (const [table, request] of Object.entries(asRecord(input.RequestItems))) {
        const consistent = asRecord(request).ConsistentRead === true;
        const found = asItems(asRecord(output.Responses)[table]);
        // Keys left unprocessed were not read (and not billed); every other key was, found or not.
        const missing = Math.max(0, keyCount(request) - keyCount(asRecord(output.UnprocessedKeys)[table]) - found.length);
        units += found.reduce((sum, item) => sum + unitsFor(itemBytes(item), consistent), 0) + missing * unitsFor(0, consistent);
      }
      return units;
    }
    case 'TransactGetItems': {
      // Responses line up with the requests; an item not found leaves an empty entry.
      const requested = Array.isArray(input.TransactItems) ? input.TransactItems.length : 0;
      const responses = Array.isArray(output.Responses) ? output.Responses.map(asRecord) : [];
      let units = 0;
      for (let index = 0; index < requested; index += 1) {
        const item = responses[index]?.Item;
        units += 2 * unitsFor(item === undefined ? 0 : itemBytes(asRecord(item)), true);
      }
      return units;
    }
    default:
      return undefined;
  }
}

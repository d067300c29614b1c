/** Orders strings by UTF-16 code unit, as `Array.prototype.sort` does by default: the same everywhere, whatever the locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A record's entries ordered by key. */
export function sortedEntries<T>(record: Record<string, T>): [string, T][] {
  return Object.keys(record)
    .sort(compareStrings)
    .map((key) => [key, record[key]]);
}

/** A copy of a record with its keys in sorted order, so the same map always renders the same way. */
export function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(sortedEntries(record));
}

/** A plain object (not null, not an array): a YAML or JSON map. */
export function isRecord(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A copy of a record with its keys in sorted order, so the same map always renders the same way. */
export function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(record).sort().map((key) => [key, record[key]]));
}

/** `Pulumi.<stack>.yaml`: the file a stack's configuration lives in. */
export function stackFileName(stack: string): string {
  return `Pulumi.${stack}.yaml`;
}

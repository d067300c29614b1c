/**
 * Pure validators for host settings that stack config carries as strings:
 * systemd calendar expressions (the prune schedule), EC2 instance type names,
 * and CIDR blocks (SSH ingress). No I/O: config validation calls them before
 * any resource is declared.
 */

const CALENDAR_SHORTHANDS = new Set([
  'minutely',
  'hourly',
  'daily',
  'weekly',
  'monthly',
  'yearly',
  'annually',
  'quarterly',
  'semiannually',
  'semi-annually',
]);

const WEEKDAY_NAMES = [
  ['mon', 'monday'],
  ['tue', 'tuesday'],
  ['wed', 'wednesday'],
  ['thu', 'thursday'],
  ['fri', 'friday'],
  ['sat', 'saturday'],
  ['sun', 'sunday'],
];

const TIMEZONE_PATTERN = /^(?:UTC|[A-Z][A-Za-z_+-]*(?:\/[A-Za-z0-9_+-]+){1,2})$/;

function weekdayIndex(name: string): number {
  const lower = name.toLowerCase();
  return WEEKDAY_NAMES.findIndex((names) => names.includes(lower));
}

/** `Mon`, `Mon,Fri`, `Mon..Fri` (or the older `Mon-Fri`); a range never wraps past Sunday. */
function isWeekdayList(text: string): boolean {
  return text.split(',').every((item) => {
    const range = item.includes('..') ? item.split('..') : item.split('-');
    const days = range.map(weekdayIndex);
    return range.length <= 2 && days.every((day) => day >= 0) && (days.length === 1 || days[0] <= days[1]);
  });
}

/** One comma-separated calendar component: `*`, `N`, `N..M`, each optionally `/step`. */
function isComponent(text: string, min: number, max: number, allowFraction = false): boolean {
  const number = allowFraction ? '\\d+(?:\\.\\d{1,6})?' : '\\d+';
  const item = new RegExp(`^(?:\\*|(${number})(?:\\.\\.(${number}))?(?:/(${number}))?)$`);
  return text.split(',').every((part) => {
    const match = item.exec(part);
    if (!match) {
      return false;
    }
    const [, start, end, step] = match;
    if (start !== undefined) {
      const from = Number(start);
      if (from < min || from > max) {
        return false;
      }
      if (end !== undefined && (Number(end) < from || Number(end) > max)) {
        return false;
      }
    }
    return step === undefined || Number(step) > 0;
  });
}

function isDate(text: string): boolean {
  const match = /^(?:([^-~]+)-)?([^-~]+)([-~])([^-~]+)$/.exec(text);
  if (!match) {
    return false;
  }
  const [, year, month, , day] = match;
  return (year === undefined || isComponent(year, 1970, 2199)) && isComponent(month, 1, 12) && isComponent(day, 1, 31);
}

function isTime(text: string): boolean {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) {
    return false;
  }
  const [hour, minute, second] = parts;
  return isComponent(hour, 0, 23) && isComponent(minute, 0, 59) && (second === undefined || isComponent(second, 0, 59, true));
}

/**
 * True when `expr` is a systemd calendar event expression (systemd.time(7)) as
 * `OnCalendar=` accepts it: a shorthand (`daily`, `weekly`, `hourly`, ...) or
 * `[weekdays] [[year-]month-day] [hour:minute[:second]] [timezone]`, e.g.
 * `*-*-* 03:00:00`, `Mon..Fri 02:30`, `Sun *-*-* 04:00:00 UTC`, `*:0/15`.
 *
 * Pure, so it cannot consult the time zone database: any `Area/City` suffix is
 * accepted. One-shot `@<epoch>` timestamps are refused on purpose: a schedule
 * must recur.
 */
export function isSystemdCalendar(expr: string): boolean {
  if (typeof expr !== 'string' || expr !== expr.trim() || expr === '' || /\s{2,}|[\t\n\r]/.test(expr)) {
    return false;
  }
  const tokens = expr.split(' ');
  if (tokens.length > 1 && TIMEZONE_PATTERN.test(tokens[tokens.length - 1])) {
    tokens.pop();
  }
  if (tokens.length === 1 && CALENDAR_SHORTHANDS.has(tokens[0].toLowerCase())) {
    return true;
  }
  let rest = tokens;
  if (/^[A-Za-z]/.test(rest[0])) {
    if (!isWeekdayList(rest[0])) {
      return false;
    }
    rest = rest.slice(1);
  }
  switch (rest.length) {
    case 0:
      return tokens.length > 0;
    case 1:
      return rest[0].includes(':') ? isTime(rest[0]) : isDate(rest[0]);
    case 2:
      return isDate(rest[0]) && isTime(rest[1]);
    default:
      return false;
  }
}

// `<family>.<size>`, each lowercase words joined by single hyphens: families
// such as `u-6tb1`, `m7i-flex`, `mac2-m2pro`; sizes such as `metal-24xl`.
const INSTANCE_TYPE_PATTERN = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** True for an EC2 instance type name such as `t3.small`, `m7g.large`, `c6in.2xlarge`, `u-6tb1.metal`, `c7i.metal-24xl`. */
export function isInstanceType(name: string): boolean {
  return typeof name === 'string' && INSTANCE_TYPE_PATTERN.test(name);
}

export interface Cidr {
  version: 4 | 6;
  /** The network address in canonical form, e.g. `10.0.0.0` or `2001:db8::`. */
  address: string;
  prefixLength: number;
  /** `address/prefixLength`, canonical. */
  text: string;
  /** True for `0.0.0.0/0` and `::/0`: the whole internet. */
  isAnyAddress: boolean;
}

function parseIpv4(text: string): bigint | undefined {
  const octets = text.split('.');
  if (octets.length !== 4 || !octets.every((octet) => /^(?:0|[1-9]\d{0,2})$/.test(octet) && Number(octet) <= 255)) {
    return undefined;
  }
  return octets.reduce((value, octet) => (value << 8n) | BigInt(octet), 0n);
}

function parseIpv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) {
    return undefined;
  }
  const groupsOf = (half: string): string[] => (half === '' ? [] : half.split(':'));
  const head = groupsOf(halves[0]);
  const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 2 && missing < 1) || (halves.length === 1 && missing !== 0)) {
    return undefined;
  }
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!groups.every((group) => /^[0-9a-fA-F]{1,4}$/.test(group))) {
    return undefined;
  }
  return groups.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n);
}

function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 0xffn).toString()).join('.');
}

function formatIpv6(value: bigint): string {
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => Number((value >> shift) & 0xffffn));
  // RFC 5952: compress the longest run (two or more) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) {
      length++;
    }
    if (length > bestLength) {
      bestStart = start;
      bestLength = length;
    }
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) {
    return hex.join(':');
  }
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Parses an IPv4 or IPv6 CIDR block. Returns what is wrong instead of
 * throwing, so config validation can report it with the key path. A block with
 * host bits set is refused with the network it probably meant.
 */
export function parseCidr(text: string): Cidr | { error: string } {
  if (typeof text !== 'string') {
    return { error: 'expected a CIDR block such as 10.0.0.0/16' };
  }
  const match = /^([^/\s]+)\/(0|[1-9]\d{0,2})$/.exec(text);
  if (!match) {
    return { error: `"${text}" is not a CIDR block: expected address/prefix, e.g. 10.0.0.0/16 or 2001:db8::/32` };
  }
  const [, addressText, prefixText] = match;
  const version: 4 | 6 = addressText.includes(':') ? 6 : 4;
  const value = version === 4 ? parseIpv4(addressText) : parseIpv6(addressText);
  if (value === undefined) {
    return { error: `"${addressText}" is not a valid IPv${version} address` };
  }
  const bits = version === 4 ? 32 : 128;
  const prefixLength = Number(prefixText);
  if (prefixLength > bits) {
    return { error: `prefix /${prefixLength} is longer than the ${bits} bits of an IPv${version} address` };
  }
  const hostBits = BigInt(bits - prefixLength);
  const network = (value >> hostBits) << hostBits;
  const address = version === 4 ? formatIpv4(network) : formatIpv6(network);
  if (network !== value) {
    return { error: `"${text}" has host bits set; the network is ${address}/${prefixLength}` };
  }
  return { version, address, prefixLength, text: `${address}/${prefixLength}`, isAnyAddress: prefixLength === 0 };
}

/** `"< 0.5"`, `">= 1"`, `"== 3"`, `"!= 0"` or a plain value for equality. */
export type Comparison = { op: '<' | '<=' | '>' | '>=' | '==' | '!='; value: number } | { op: 'eq'; value: unknown };

export function parseComparison(expect: unknown): Comparison {
  if (typeof expect === 'string') {
    const m = /^\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(expect);
    if (m) return { op: m[1] as '<', value: Number(m[2]) };
  }
  return { op: 'eq', value: expect };
}

export function compare(actual: unknown, c: Comparison): boolean {
  if (c.op === 'eq') return String(actual) === String(c.value);
  const n = Number(actual);
  if (actual === null || actual === undefined || Number.isNaN(n)) return false;
  switch (c.op) {
    case '<':
      return n < c.value;
    case '<=':
      return n <= c.value;
    case '>':
      return n > c.value;
    case '>=':
      return n >= c.value;
    case '==':
      return n === c.value;
    case '!=':
      return n !== c.value;
  }
}

export function describeComparison(c: Comparison): string {
  return c.op === 'eq' ? `= ${JSON.stringify(c.value)}` : `${c.op} ${c.value}`;
}

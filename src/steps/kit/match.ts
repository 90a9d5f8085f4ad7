/** Expectations on text: `{ contains }`, `{ matches }` (a regular expression) or `{ equals }`. */
export interface TextExpectation {
  contains?: string;
  matches?: string;
  equals?: string;
}

export const textExpectationSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    contains: { type: 'string', description: 'The text must contain this.' },
    matches: { type: 'string', description: 'The text must match this regular expression.' },
    equals: { type: 'string', description: 'The text (trimmed) must equal this.' },
  },
} as const;

/** Returns why `text` does not meet `expect`, or undefined when it does. */
export function checkText(text: string, expect: TextExpectation): string | undefined {
  if (expect.contains !== undefined && !text.includes(expect.contains)) return `does not contain ${JSON.stringify(expect.contains)}`;
  if (expect.matches !== undefined && !new RegExp(expect.matches, 'm').test(text)) return `does not match /${expect.matches}/`;
  if (expect.equals !== undefined && text.trim() !== expect.equals) return `is ${JSON.stringify(truncate(text.trim()))}, expected ${JSON.stringify(expect.equals)}`;
  return undefined;
}

export function describeText(expect: TextExpectation): string {
  if (expect.contains !== undefined) return `contains ${JSON.stringify(expect.contains)}`;
  if (expect.matches !== undefined) return `matches /${expect.matches}/`;
  return `equals ${JSON.stringify(expect.equals)}`;
}

export function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

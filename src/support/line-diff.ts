/** How many differing lines of each side are shown, and how much of each line. */
const MAX_LINES = 6;
const MAX_WIDTH = 160;

/** Lines with their terminators: "a\nb" is ["a\n", "b"], so a missing or extra final newline is a difference too. */
function linesOf(text: string): string[] {
  return text === '' ? [] : text.split(/(?<=\n)/);
}

function shown(line: string, redact: (text: string) => string): string {
  const ended = line.endsWith('\n');
  const text = redact(ended ? line.slice(0, -1).replace(/\r$/, '') : line);
  const cut = text.length > MAX_WIDTH ? `${text.slice(0, MAX_WIDTH)}…` : text;
  const body = cut === '' ? '(empty line)' : cut;
  return ended ? body : `${body} (no newline at end)`;
}

/**
 * The first stretch where two texts differ, unified-diff style: `@@ line N @@`, then the lines
 * as they were (`-`) and as they are (`+`), at most a few of each and each cut to a readable
 * width. `redact` is applied to whole lines before they are cut, so a secret is never half shown.
 * Empty when the texts are equal.
 */
export function firstDifferingLines(before: string, now: string, redact: (text: string) => string = (t) => t): string[] {
  if (before === now) return [];
  const a = linesOf(before);
  const b = linesOf(now);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const side = (lines: string[], sign: string) => {
    const out = lines.slice(0, MAX_LINES).map((l) => `${sign} ${shown(l, redact)}`);
    if (lines.length > MAX_LINES) out.push(`${sign} … ${lines.length - MAX_LINES} more line${lines.length - MAX_LINES === 1 ? '' : 's'}`);
    return out;
  };
  const removed = a.slice(start, endA);
  const added = b.slice(start, endB);
  const where = start >= a.length && start >= b.length ? 'end of file' : `line ${start + 1}`;
  return [`@@ ${where} @@`, ...side(removed, '-'), ...side(added, '+')];
}

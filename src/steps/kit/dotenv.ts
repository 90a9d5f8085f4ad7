/** Reads KEY=VALUE lines of a .env file: comments, blank lines, `export`, quotes. */
export function parseDotenv(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const textLine of text.split(/\r?\n/)) {
    const line = textLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    const raw = m[2]!;
    const quote = raw[0];
    const close = quote === '"' || quote === "'" ? raw.indexOf(quote, 1) : -1;
    // "value" # comment → value; bare value # comment → value; = # comment → empty.
    const value = close > 0 ? raw.slice(1, close) : raw.startsWith('#') ? '' : raw.replace(/\s+#.*$/, '');
    vars.set(m[1]!, value);
  }
  return vars;
}

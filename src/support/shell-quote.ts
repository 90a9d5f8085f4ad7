/** Quoting a value as text for a POSIX shell, for where it lands. */

export type QuoteContext = 'bare' | 'single' | 'double' | 'heredoc';

const SHELL_SAFE = /^[A-Za-z0-9_/.:=@%+,-]+$/;

export function quoteForShell(value: string, context: QuoteContext): string {
  switch (context) {
    case 'single':
      return value.replaceAll("'", `'\\''`);
    case 'double':
      return value.replace(/[\\"$`]/g, (c) => `\\${c}`);
    case 'heredoc':
      return value.replace(/[\\$`]/g, (c) => `\\${c}`);
    case 'bare':
      return SHELL_SAFE.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
  }
}

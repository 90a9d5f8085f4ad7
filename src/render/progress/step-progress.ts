/** Failures and retries shown under a running change (the newest ones). */
const KEPT_PROBLEMS = 3;

/** What a running change (or a host's row) shows: a counter, the current step, its live output, the last problems. */
export class ChangeProgress {
  finished = 0;
  private current = '';
  private tail = '';
  private readonly problems: string[] = [];
  /** `mark` and `unit` frame the counter: `✔ 3/8`, `↩ 1/4 undone`. */
  constructor(
    public total: number,
    private readonly mark = '✔',
    private readonly unit = '',
  ) {}
  started(label: string): void {
    this.current = label;
    this.tail = '';
  }
  output(line: string): void {
    this.tail = line;
  }
  problem(line: string): void {
    this.problems.push(line);
    if (this.problems.length > KEPT_PROBLEMS) this.problems.shift();
  }
  text(): string {
    const lines = [`${this.mark} ${this.finished}/${this.total}${this.unit}${this.current ? `  ▸ ${this.current}` : ''}`];
    if (this.tail) lines.push(`  ${this.tail}`);
    for (const p of this.problems) lines.push(`✖ ${p}`);
    return lines.join('\n');
  }
}

/** Keeps the last lines of a stream of output, bounded in lines and bytes. */
export class OutputTail {
  private text = '';
  constructor(
    private readonly maxLines = 40,
    private readonly maxChars = 4096,
  ) {}

  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.maxChars * 2) this.text = this.text.slice(-this.maxChars);
  }

  toString(): string {
    const lines = this.text.slice(-this.maxChars).replace(/\s+$/, '').split('\n');
    return lines.slice(-this.maxLines).join('\n');
  }
}

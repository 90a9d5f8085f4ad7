import { StringDecoder } from 'node:string_decoder';
import { OutputTail } from './output-tail.js';
import type { ProcessRequest } from './target.js';

const CAPTURE_LIMIT = 1 << 20;

/**
 * A command's output as a step sees it, wherever it runs: decoded per stream (a character
 * split across two reads stays whole — a secret too), streamed to `onOutput`, its tail kept,
 * and all of it kept (up to 1 MiB a stream) when the request asks to `capture`.
 */
export class OutputCollector {
  readonly tail = new OutputTail();
  stdout = '';
  stderr = '';
  private readonly decoders = { out: new StringDecoder('utf8'), err: new StringDecoder('utf8') };

  constructor(private readonly req: Pick<ProcessRequest, 'capture' | 'captureLimit' | 'onOutput'>) {}

  push(which: 'out' | 'err', data: Buffer): void {
    const chunk = this.decoders[which].write(data);
    if (chunk === '') return;
    this.tail.push(chunk);
    if (this.req.capture) {
      const limit = this.req.captureLimit ?? CAPTURE_LIMIT;
      if (which === 'out' && this.stdout.length < limit) this.stdout += chunk;
      if (which === 'err' && this.stderr.length < limit) this.stderr += chunk;
    }
    this.req.onOutput?.(chunk);
  }
}

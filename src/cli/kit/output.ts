/**
 * stdout and stderr that can never stop a run. When the reader goes away (`| head`, `less`
 * quit, a consumer of --json exiting, the ssh terminal hung up), writing fails with EPIPE or
 * EIO; the stream is then marked dead and every later write to it is dropped, so an apply or a
 * rollback carries on to its end, is journaled as usual and exits with its real code.
 */
const dead = new Set<NodeJS.WriteStream>();

function guard(stream: NodeJS.WriteStream): void {
  stream.on('error', () => dead.add(stream));
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((...args: unknown[]) => {
    if (dead.has(stream)) {
      const callback = args.find((a) => typeof a === 'function') as (() => void) | undefined;
      if (callback) process.nextTick(callback);
      return true;
    }
    try {
      return write(...args);
    } catch {
      dead.add(stream);
      return true;
    }
  }) as typeof stream.write;
}

let installed = false;

/** Installs the guard on process.stdout and process.stderr (once, before anything writes). */
export function guardOutput(): void {
  if (installed) return;
  installed = true;
  guard(process.stdout);
  guard(process.stderr);
}


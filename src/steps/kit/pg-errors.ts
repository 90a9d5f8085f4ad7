/** A one-line connection or query error naming host/port/db and the cause, never the password. */
export function describePgError(error: unknown, target: { host?: string; port?: number | string; database?: string }, during: 'connect' | 'query' = 'connect'): string {
  const e = error as { code?: string; message?: string; errors?: { code?: string }[] };
  const where = `${target.host ?? '?'}:${target.port ?? '?'}/${target.database ?? '?'}`;
  const code = e.code ?? e.errors?.[0]?.code;
  if (code === 'ECONNREFUSED') return `cannot connect to PostgreSQL at ${where}: connection refused (is the server running?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot connect to PostgreSQL at ${where}: host not found`;
  if (code === 'ETIMEDOUT' || (during === 'connect' && /timeout/i.test(e.message ?? ''))) return `cannot connect to PostgreSQL at ${where}: timed out`;
  if (code === '28P01') return `cannot connect to PostgreSQL at ${where}: password authentication failed`;
  if (code === '3D000') return `cannot connect to PostgreSQL at ${where}: database does not exist`;
  if (code === '28000') return `cannot connect to PostgreSQL at ${where}: not allowed (${(e.message ?? '').split('\n')[0]})`;
  return `PostgreSQL at ${where}: ${(e.message ?? String(error)).split('\n')[0]}`;
}

export function parsePgUrl(url: string): { host?: string; port?: number; database?: string; valid: boolean } {
  try {
    const u = new URL(url);
    if (!/^postgres(ql)?:$/.test(u.protocol)) return { valid: false };
    return { host: u.hostname || undefined, port: u.port ? Number(u.port) : 5432, database: decodeURIComponent(u.pathname.slice(1)) || undefined, valid: true };
  } catch {
    return { valid: false };
  }
}

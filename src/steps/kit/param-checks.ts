import { durationLimitProblem, parseDuration } from '../../model/units.js';
import { redactUrl } from '../../support/redact-url.js';
import type { ParamProblem } from '../contract.js';

type Path = ParamProblem['path'];

/** A regular expression that does not compile (as the step will compile it). */
export function regexProblem(path: Path, pattern: unknown, flags = ''): ParamProblem[] {
  if (typeof pattern !== 'string') return [];
  try {
    new RegExp(pattern, flags);
    return [];
  } catch (error) {
    const reason = (error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    return [{ path, message: `is not a valid regular expression: ${reason.toLowerCase()} (in ${JSON.stringify(pattern)})` }];
  }
}

/** A URL fetch() cannot request: not absolute, or not http/https. */
export function httpUrlProblem(path: Path, url: unknown): ParamProblem[] {
  if (typeof url !== 'string') return [];
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return [{ path, message: `is not a URL: ${JSON.stringify(redactUrl(url))} (expected http://host[:port]/path)` }];
  }
  return protocol === 'http:' || protocol === 'https:' ? [] : [{ path, message: `must be an http:// or https:// URL, got ${protocol}// (${JSON.stringify(redactUrl(url))})` }];
}

/** A duration too long for a timer (the schema already checked its form). */
export function durationProblem(path: Path, text: unknown): ParamProblem[] {
  const ms = typeof text === 'string' ? parseDuration(text) : undefined;
  const problem = ms === undefined ? undefined : durationLimitProblem(ms);
  return problem ? [{ path, message: problem }] : [];
}

/** The map form of a step's value, or undefined for its short forms. */
export function asMap(raw: unknown): Record<string, unknown> | undefined {
  return raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;
}

import { constructFromEvents, defineScalarTag, EVENT_ID, FAILSAFE_SCHEMA, getScalarValue, NOT_RESOLVED, parseEvents, SCALAR_STYLE, type Event, type ScalarEvent, type Schema as JsYamlSchema } from 'js-yaml';
import { isScalar, Schema, type ScalarTag } from 'yaml';

type Path = (string | number)[];

/** A runbook's data from the fast parse, and where aliases stand in it (a few checks read those spots from the document). */
export interface FastYaml {
  data: unknown;
  /** The path of every alias, as keys and indexes from the root. */
  aliasPaths: Path[];
}

/** yaml's `toJS` refuses more alias expansions than its `maxAliasCount`; the fast parse declines well before. */
const MAX_ALIASES = 100;
/** yaml rejects an implicit key longer than 1024 characters. */
const MAX_KEY_LENGTH = 1000;
const NULL_TEXT = /^(?:~|[Nn]ull|NULL)?$/;

const DIGITS = [...'0123456789'];
/** The characters each of yaml's core tests can start with (the fast-parse test checks every resolution against yaml). */
const FIRST_CHARS: Record<string, string[]> = {
  'tag:yaml.org,2002:null': ['', '~', 'n', 'N'],
  'tag:yaml.org,2002:bool': ['t', 'T', 'f', 'F'],
  'tag:yaml.org,2002:int': ['-', '+', ...DIGITS],
  'tag:yaml.org,2002:float': ['-', '+', '.', ...DIGITS],
};

let schema: JsYamlSchema | undefined;

/**
 * js-yaml's failsafe schema (strings, lists, maps) with yaml's own YAML 1.2 core resolvers for
 * plain scalars, tried in yaml's order: a plain scalar becomes exactly what yaml makes of it.
 */
function coreSchema(): JsYamlSchema {
  if (schema) return schema;
  const byTag = new Map<string, ScalarTag[]>();
  for (const tag of new Schema({ schema: 'core' }).tags) {
    const scalar = tag as ScalarTag;
    if (scalar.default !== true || !scalar.test || !scalar.resolve) continue;
    byTag.set(scalar.tag, [...(byTag.get(scalar.tag) ?? []), scalar]);
  }
  const refuse = (message: string) => {
    throw new Error(message);
  };
  const tags = [...byTag].map(([name, candidates]) =>
    defineScalarTag(name, {
      implicit: true,
      // Only where one of yaml's tests can match: js-yaml then tries no resolver on most text.
      implicitFirstChars: FIRST_CHARS[name] ?? null,
      identify: () => false,
      resolve: (source: string) => {
        for (const tag of candidates) {
          if (!tag.test!.test(source)) continue;
          const value: unknown = tag.resolve(source, refuse, { intAsBigInt: false } as never);
          return isScalar(value) ? value.value : value;
        }
        return NOT_RESOLVED;
      },
    }),
  );
  return (schema = FAILSAFE_SCHEMA.withTags(...tags));
}

interface Open {
  kind: 'map' | 'seq';
  /** Children so far (a map's keys and values alternate). */
  children: number;
  anchored: boolean;
  /** The event of the key being read, or the index of the item. */
  at: ScalarEvent | number | undefined;
}

function scalarText(text: string, event: ScalarEvent): string {
  return (event as ScalarEvent & { fast?: boolean }).fast ? text.slice(event.valueStart, event.valueEnd) : getScalarValue(text, event);
}

/**
 * Whether the event stream stays inside what the fast parse reads exactly as yaml does, and
 * where its aliases are. Outside it — tags, directives, several documents, merge keys (`<<`),
 * keys that are lists, maps, aliases or null, an alias inside an anchored node or more than 100
 * aliases — the caller parses with yaml alone, as before.
 */
function aliasPathsIfPlain(events: Event[], text: string): Path[] | undefined {
  const open: Open[] = [];
  const aliasPaths: Path[] = [];
  let documents = 0;
  let anchoredOpen = 0;
  const pathHere = (): Path => open.map((o) => (typeof o.at === 'number' ? o.at : o.at ? scalarText(text, o.at) : ''));
  for (const event of events) {
    if (event.type === EVENT_ID.DOCUMENT) {
      if (++documents > 1 || event.directives.length > 0) return undefined;
      continue;
    }
    if (event.type === EVENT_ID.POP) {
      const closed = open.pop();
      if (closed?.anchored) anchoredOpen--;
      continue;
    }
    if (event.type !== EVENT_ID.ALIAS && event.tagStart !== -1) return undefined;
    const parent = open[open.length - 1];
    const isKey = parent?.kind === 'map' && parent.children % 2 === 0;
    if (parent) {
      if (parent.kind === 'seq') parent.at = parent.children;
      else if (isKey) parent.at = event.type === EVENT_ID.SCALAR ? event : undefined;
      parent.children++;
    }
    if (event.type === EVENT_ID.ALIAS) {
      if (isKey || anchoredOpen > 0 || aliasPaths.length >= MAX_ALIASES) return undefined;
      aliasPaths.push(pathHere());
      continue;
    }
    if (event.type === EVENT_ID.SCALAR) {
      if (!isKey) continue;
      if (event.valueEnd - event.valueStart > MAX_KEY_LENGTH) return undefined;
      if (event.style === SCALAR_STYLE.PLAIN && event.valueEnd - event.valueStart <= 4) {
        const key = scalarText(text, event);
        if (NULL_TEXT.test(key) || key === '<<') return undefined;
      }
      continue;
    }
    if (isKey) return undefined;
    const anchored = event.anchorStart !== -1;
    if (anchored) anchoredOpen++;
    open.push({ kind: event.type === EVENT_ID.MAPPING ? 'map' : 'seq', children: 0, anchored, at: undefined });
  }
  return documents === 1 ? aliasPaths : undefined;
}

/**
 * The data of a YAML file without yaml's document and positions (js-yaml reads a large runbook
 * ~10x faster, with far less memory), or undefined when the file is not certain to read the
 * same as with yaml: then, and for any error, yaml's `parseDocument` is the judge. Differential
 * tests hold the two to the same data.
 */
export function fastYaml(text: string): FastYaml | undefined {
  // Keys yaml and js-yaml would store differently, merge keys, which yaml expands with its own
  // rules, and a carriage return alone, which js-yaml takes for a line break and yaml does not.
  if (text.includes('__proto__') || text.includes('<<') || /\r(?!\n)/.test(text)) return undefined;
  try {
    const events = parseEvents(text, { maxDepth: 100 });
    const aliasPaths = aliasPathsIfPlain(events, text);
    if (!aliasPaths) return undefined;
    const [data] = constructFromEvents(events, { source: text, schema: coreSchema() });
    return { data, aliasPaths };
  } catch {
    return undefined;
  }
}

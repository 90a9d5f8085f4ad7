/** What a host name, a group name and a rollout figure may be: one definition for the schema, the inventory reader and --limit. */

const WORD = '[A-Za-z0-9][A-Za-z0-9._-]*';

/**
 * A host: an ssh destination `[user@]host` or a ~/.ssh/config alias. Neither part may start with
 * "-" (ssh would read it as an option: `-oProxyCommand=…`), nor hold spaces, quotes or shell
 * characters.
 */
export const HOST_NAME_PATTERN = `^(${WORD}@)?${WORD}$`;
export const HOST_NAME_WORDS = 'an ssh destination [user@]host: letters, digits, ".", "_" or "-" in each part, starting with a letter or digit';

/** A group of hosts (`hosts: { web: [...] }`); `local` is reserved for this machine. */
export const GROUP_NAME_PATTERN = `^${WORD}$`;
export const GROUP_NAME_WORDS = 'a group name: letters, digits, ".", "_" or "-", starting with a letter or digit';
export const LOCAL = 'local';

/** A share of the targeted hosts, `0%` to `100%`. */
export const PERCENT_PATTERN = '^(100(\\.0+)?|\\d{1,2}(\\.\\d+)?)%$';
export const PERCENT_WORDS = 'a number of hosts, or a percentage from 0% to 100% such as "25%"';

export function isHostName(name: string): boolean {
  return new RegExp(HOST_NAME_PATTERN).test(name);
}

export function isGroupName(name: string): boolean {
  return new RegExp(GROUP_NAME_PATTERN).test(name);
}

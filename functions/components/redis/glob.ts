/**
 * Redis MATCH globs evaluated locally, byte for byte as the server does (util.c stringmatchlen): a
 * restore's keyPattern selects records of an artifact, and a scoped replace deletes only target keys
 * inside the backup's patterns, neither of which the server can evaluate for us.
 *
 * Supported as in Redis: `*`, `?`, `[abc]`, `[^abc]`, `[a-z]`, and `\` escaping the next byte. Keys and
 * patterns are compared as bytes (a pattern string is taken as UTF-8), so binary keys match too.
 */

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const BACKSLASH = 0x5c;
const DASH = 0x2d;

interface State {
  /** Set once a `*` has tried every suffix and failed: a longer match cannot succeed either (Redis's shortcut). */
  skipLonger: boolean;
}

function matchFrom(pattern: Buffer, p: number, key: Buffer, k: number, state: State): boolean {
  while (p < pattern.length && k < key.length) {
    const c = pattern[p];
    if (c === STAR) {
      while (p + 1 < pattern.length && pattern[p + 1] === STAR) p++;
      if (p + 1 === pattern.length) return true;
      for (; k < key.length; k++) {
        if (matchFrom(pattern, p + 1, key, k, state)) return true;
        if (state.skipLonger) return false;
      }
      state.skipLonger = true;
      return false;
    }
    if (c === QUESTION) {
      k++;
    } else if (c === OPEN) {
      p++;
      const not = pattern[p] === CARET;
      if (not) p++;
      let match = false;
      for (;;) {
        if (p >= pattern.length) {
          // An unterminated class ends at the pattern's end, like Redis does.
          p--;
          break;
        }
        if (pattern[p] === BACKSLASH && p + 1 < pattern.length) {
          p++;
          if (pattern[p] === key[k]) match = true;
        } else if (pattern[p] === CLOSE) {
          break;
        } else if (p + 2 < pattern.length && pattern[p + 1] === DASH) {
          let start = pattern[p];
          let end = pattern[p + 2];
          if (start > end) [start, end] = [end, start];
          p += 2;
          if (key[k] >= start && key[k] <= end) match = true;
        } else if (pattern[p] === key[k]) {
          match = true;
        }
        p++;
      }
      if (not) match = !match;
      if (!match) return false;
      k++;
    } else {
      if (c === BACKSLASH && p + 1 < pattern.length) p++;
      if (pattern[p] !== key[k]) return false;
      k++;
    }
    p++;
    if (k === key.length) {
      while (p < pattern.length && pattern[p] === STAR) p++;
      break;
    }
  }
  return p === pattern.length && k === key.length;
}

/** A compiled glob: the pattern's bytes and whether it matches everything. */
export interface Glob {
  readonly source: string;
  readonly bytes: Buffer;
  /** True for `*`, which the server itself short-cuts to "every key" (even the empty one). */
  readonly matchesAll: boolean;
}

export function compileGlob(pattern: string): Glob {
  const bytes = Buffer.from(pattern, 'utf8');
  return { source: pattern, bytes, matchesAll: pattern === '*' };
}

export function globMatch(glob: Glob, key: Buffer): boolean {
  if (glob.matchesAll) return true;
  return matchFrom(glob.bytes, 0, key, 0, { skipLonger: false });
}

export function matchesAny(globs: readonly Glob[], key: Buffer): boolean {
  return globs.some((glob) => globMatch(glob, key));
}

/**
 * Last line of defence: scrubs secret values out of text that is about to leave the process
 * (log lines, error messages, upstream response bodies). The first line of defence is carrying
 * values as `SecretValue` and never formatting them.
 */

import { createHash } from 'node:crypto';

/** What a redacted occurrence is replaced with. */
export const REDACTED = '[REDACTED]';

/** Secrets shorter than this are ignored (they would match ordinary text). */
export const MIN_SECRET_LENGTH = 4;

/** Base64 "cores" of a secret embedded at any byte offset are only matched for secrets this long. */
const MIN_LENGTH_FOR_EMBEDDED_BASE64 = 12;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A regex source for a URL-encoded form that accepts `%2f` as well as `%2F`. */
function percentCaseInsensitive(form: string): string {
  let out = '';
  let i = 0;
  while (i < form.length) {
    const m = /^%([0-9A-F])([0-9A-F])/.exec(form.slice(i, i + 3));
    if (m) {
      out += '%' + caseClass(m[1]) + caseClass(m[2]);
      i += 3;
    } else {
      out += escapeRegExp(form[i]);
      i++;
    }
  }
  return out;
}

function caseClass(c: string): string {
  return /[A-F]/.test(c) ? `[${c}${c.toLowerCase()}]` : c;
}

function toBase64Url(b64: string): string {
  return b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The forms of one secret that {@link redact} removes, as regex sources: the raw value, its URL
 * encodings (`encodeURIComponent`, form encoding with `+`, `encodeURI`), its JSON string escapes
 * (with `\/` and `\uXXXX` variants), its hex (either case — the matcher ignores case, which also
 * catches upper- and lower-cased forms of the value), its base64 and base64url encodings, and —
 * for secrets of 12+ characters — the stable middle part of its base64 when it is embedded at any
 * byte offset in a larger encoded string (such as `Basic base64(user:secret)`).
 */
export function secretPatterns(secret: string): string[] {
  const { literal, percent } = secretForms(secret);
  const all: Array<{ len: number; src: string }> = [];
  for (const f of literal) {
    if (f.length > 0) {
      all.push({ len: f.length, src: escapeRegExp(f) });
    }
  }
  for (const f of percent) {
    all.push({ len: f.length, src: percentCaseInsensitive(f) });
  }
  return all.sort((a, b) => b.len - a.len).map((p) => p.src);
}

/** The literal forms (and the percent-encoded ones) of a secret; empty below 4 characters. */
function secretForms(secret: string): { literal: Set<string>; percent: Set<string> } {
  const literal = new Set<string>();
  const percent = new Set<string>();
  if (secret.length < MIN_SECRET_LENGTH) {
    return { literal, percent };
  }
  literal.add(secret);
  const json = JSON.stringify(secret).slice(1, -1);
  literal.add(json);
  literal.add(json.replace(/\//g, '\\/'));
  const jsonAscii = json.replace(
    /[^\u0020-\u007e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  literal.add(jsonAscii);
  literal.add(jsonAscii.replace(/\//g, '\\/'));
  for (const enc of [
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/%20/g, '+'),
    safeEncodeUri(secret),
  ]) {
    if (enc !== undefined && enc !== secret) {
      percent.add(enc);
    }
  }
  const bytes = Buffer.from(secret, 'utf8');
  literal.add(bytes.toString('hex'));
  const b64 = bytes.toString('base64');
  literal.add(b64);
  literal.add(b64.replace(/=+$/, ''));
  literal.add(toBase64Url(b64));
  if (secret.length >= MIN_LENGTH_FOR_EMBEDDED_BASE64) {
    // Embedded at offset k (mod 3): encode with k filler bytes in front, drop the characters that
    // depend on neighbours (the first ceil(8k/6) and the last partial group).
    for (const k of [1, 2]) {
      const shifted = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
      const skip = Math.ceil((k * 8) / 6);
      const totalBits = (k + bytes.length) * 8;
      const stable = Math.floor(totalBits / 6);
      const core = shifted.slice(skip, stable);
      if (core.length >= 8) {
        literal.add(core);
        literal.add(toBase64Url(core));
      }
    }
    // Offset 0 inside a larger string: the last group may differ, so drop it.
    const coreAligned = b64.slice(0, Math.floor((bytes.length * 8) / 6));
    if (coreAligned.length >= 8) {
      literal.add(coreAligned);
      literal.add(toBase64Url(coreAligned));
    }
  }
  return { literal, percent };
}

function safeEncodeUri(s: string): string | undefined {
  try {
    return encodeURI(s);
  } catch {
    return undefined; // lone surrogates
  }
}

/** One regex matching every form of every secret, longest first; undefined when nothing to match. */
export function buildSecretMatcher(secrets: Iterable<string>): RegExp | undefined {
  const sources: Array<string> = [];
  const seen = new Set<string>();
  for (const s of secrets) {
    if (typeof s !== 'string' || seen.has(s)) {
      continue;
    }
    seen.add(s);
    sources.push(...secretPatterns(s));
  }
  if (sources.length === 0) {
    return undefined;
  }
  // Longest alternatives first so a longer encoded form is removed whole.
  const unique = [...new Set(sources)].sort((a, b) => b.length - a.length);
  // Case-insensitive: an upstream that upper- or lower-cases the key (or its hex) echoes it still.
  return new RegExp(unique.join('|'), 'gi');
}

/** A trailing piece shorter than this is left alone (it says next to nothing about a key). */
const MIN_TRAILING_PREFIX = 3;

/**
 * For text that was cut at a byte limit: if it ends with the beginning of any form of a secret
 * (compared ignoring case), that tail is replaced with `[REDACTED]`, so the cut never hands out a
 * key's prefix. Run {@link redact} first; this only looks at the end. Never throws.
 */
export function maskTrailingPrefix(text: string, secrets: Iterable<string>): string {
  const lowerText = text.toLowerCase();
  let cutAt = text.length;
  for (const s of secrets) {
    if (typeof s !== 'string') {
      continue;
    }
    const { literal, percent } = secretForms(s);
    for (const form of [...literal, ...percent]) {
      const f = form.toLowerCase();
      const head = f.slice(0, MIN_TRAILING_PREFIX);
      // Candidate starts: the last f.length - 1 characters that begin like the form.
      for (
        let p = Math.max(0, lowerText.length - f.length + 1);
        p <= lowerText.length - MIN_TRAILING_PREFIX;
        p++
      ) {
        if (p < cutAt && lowerText.startsWith(head, p) && f.startsWith(lowerText.slice(p))) {
          cutAt = p;
          break;
        }
      }
    }
  }
  return cutAt === text.length ? text : `${text.slice(0, cutAt)}${REDACTED}`;
}

/**
 * Replaces every occurrence of each secret — raw, URL-encoded and base64 (see
 * {@link secretPatterns}) — with `[REDACTED]`. Secrets shorter than 4 characters are ignored.
 * Never throws for string input.
 */
export function redact(text: string, secrets: Iterable<string>): string {
  const matcher = cachedMatcher(secrets);
  if (!matcher) {
    return text;
  }
  // Repeat until stable: removing one form can never create another, but overlapping matches
  // (e.g. a base64 core adjacent to the raw value) are caught on the next pass.
  let out = text;
  for (let i = 0; i < 3; i++) {
    const next = out.replace(matcher, REDACTED);
    if (next === out) {
      break;
    }
    out = next;
  }
  return out;
}

/**
 * Matchers of the last few secret sets {@link redact} was called with, keyed by a SHA-256 of the
 * set (not the values themselves). Building one costs ~0.1 ms per secret (its encodings and a
 * regex); an `http_request` redacts its answer's body and every header with the same set, and a
 * process redacts with the same few sets over and over. Only `String.replace` uses these regexes,
 * which resets their `lastIndex`, so sharing one is safe.
 */
const matcherCache = new Map<string, RegExp | undefined>();
const MATCHER_CACHE_SIZE = 16;

function cachedMatcher(secrets: Iterable<string>): RegExp | undefined {
  const list = [...secrets];
  const h = createHash('sha256');
  for (const s of list) {
    if (typeof s === 'string') {
      // Length-prefixed, so two different sets never hash alike by concatenation.
      h.update(`${s.length}:`).update(s);
    }
  }
  const key = h.digest('base64');
  if (matcherCache.has(key)) {
    return matcherCache.get(key);
  }
  const matcher = buildSecretMatcher(list);
  if (matcherCache.size >= MATCHER_CACHE_SIZE) {
    const oldest = matcherCache.keys().next().value;
    if (oldest !== undefined) {
      matcherCache.delete(oldest);
    }
  }
  matcherCache.set(key, matcher);
  return matcher;
}

/**
 * A message for logs that is safe to print: the error's name, code and message (and its `cause`'s
 * message), with every form of the given secrets redacted. Stack traces are left out.
 * Never throws.
 */
export function redactError(e: unknown, secrets: Iterable<string>): string {
  let text: string;
  try {
    text = describe(e);
    const cause = e instanceof Error ? (e as Error & { cause?: unknown }).cause : undefined;
    if (cause !== undefined) {
      text += ` (cause: ${describe(cause)})`;
    }
  } catch {
    text = 'unprintable error';
  }
  return redact(text, [...secrets]);
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const prefix = typeof code === 'string' && !e.message.includes(code) ? `${e.name} [${code}]` : e.name;
    return `${prefix}: ${e.message}`;
  }
  if (typeof e === 'string') {
    return e;
  }
  if (e === null || e === undefined || typeof e !== 'object') {
    return String(e);
  }
  try {
    return JSON.stringify(e) ?? Object.prototype.toString.call(e);
  } catch {
    return Object.prototype.toString.call(e);
  }
}

/**
 * Masks secret values in a byte stream (a child's stdout/stderr) with `[REDACTED]`: the raw value
 * and every encoding {@link redact} knows (URL encodings, base64, base64url, embedded base64
 * cores), also when an occurrence is split across chunks.
 *
 * How: the text is handled as latin1 (one character per byte, so any byte sequence round-trips
 * and a UTF-8 character split across chunks is never mangled). The last (longest form − 1) bytes
 * are held back, since they may be the start of an occurrence; they are flushed when a newline
 * ends them (if no secret contains one), after `idleFlushMs` without new data (so a prompt
 * without a newline still shows), and at the end.
 */
import { buildSecretMatcher, REDACTED, secretPatterns } from '../audit/redact';

export interface OutputMaskerOptions {
  /** Flush the held-back tail after this long without new data (default 50 ms; 0: only at end). */
  idleFlushMs?: number;
}

export class OutputMasker {
  readonly #matcher: RegExp | undefined;
  readonly #hold: number;
  readonly #newlineSafe: boolean;
  readonly #idleFlushMs: number;
  #pending = '';
  #timer: NodeJS.Timeout | undefined;
  #ended = false;

  constructor(
    secrets: readonly string[],
    private readonly write: (chunk: Buffer) => void,
    opts: OutputMaskerOptions = {},
  ) {
    const forms: string[] = [];
    for (const s of secrets) {
      // The raw value as its UTF-8 bytes read as latin1; its encodings are ASCII (the same either way).
      forms.push(Buffer.from(s, 'utf8').toString('latin1'), s);
    }
    this.#matcher = buildSecretMatcher(forms);
    this.#hold = Math.max(0, ...secrets.map(maxFormLength)) - 1;
    this.#newlineSafe = secrets.every((s) => !/[\r\n]/.test(s));
    this.#idleFlushMs = opts.idleFlushMs ?? 50;
  }

  /** Masks and writes what can be written now; holds back a possible start of an occurrence. */
  push(chunk: Buffer): void {
    if (this.#ended) {
      return;
    }
    const text = this.#pending + chunk.toString('latin1');
    if (!this.#matcher) {
      this.#pending = '';
      this.#emit(text);
      return;
    }
    let cut = Math.max(0, text.length - Math.max(0, this.#hold));
    if (this.#newlineSafe) {
      const nl = text.lastIndexOf('\n');
      if (nl + 1 > cut) {
        cut = nl + 1;
      }
    }
    // Never cut through an occurrence: one that starts before the cut is complete in `text`.
    this.#matcher.lastIndex = 0;
    for (const m of text.matchAll(this.#matcher)) {
      const start = m.index;
      const end = start + m[0].length;
      if (start < cut && end > cut) {
        cut = end;
      }
      if (start >= cut) {
        break;
      }
    }
    this.#pending = text.slice(cut);
    this.#emit(this.#mask(text.slice(0, cut)));
    this.#schedule();
  }

  /** Writes everything held back (masked). Further pushes are ignored. */
  end(): void {
    this.flush();
    this.#ended = true;
  }

  /** Writes what is held back now (masked). */
  flush(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const rest = this.#pending;
    this.#pending = '';
    this.#emit(this.#mask(rest));
  }

  #mask(text: string): string {
    if (!this.#matcher || text.length === 0) {
      return text;
    }
    let out = text;
    for (let i = 0; i < 3; i++) {
      const next = out.replace(this.#matcher, REDACTED);
      if (next === out) {
        break;
      }
      out = next;
    }
    return out;
  }

  #emit(text: string): void {
    if (text.length > 0) {
      this.write(Buffer.from(text, 'latin1'));
    }
  }

  #schedule(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending.length > 0 && this.#idleFlushMs > 0) {
      this.#timer = setTimeout(() => this.flush(), this.#idleFlushMs);
      this.#timer.unref();
    }
  }
}

/** The longest form of `secret` that {@link redact} matches (all forms are no longer than this). */
function maxFormLength(secret: string): number {
  const bytes = Buffer.byteLength(secret, 'utf8');
  const encodedLengths = [
    bytes,
    Math.ceil(bytes / 3) * 4,
    encodeURIComponent(secret).length,
    safeLength(() => encodeURI(secret)),
  ];
  // secretPatterns() is the authority on which forms exist; nothing to match means nothing to hold.
  return secretPatterns(secret).length === 0 ? 0 : Math.max(...encodedLengths);
}

function safeLength(f: () => string): number {
  try {
    return f().length;
  } catch {
    return 0;
  }
}

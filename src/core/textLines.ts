/**
 * Line-preserving text editing for config files we rewrite in place (`.env`, Codex's TOML): each
 * line keeps its own ending (`\r\n`, `\n`, `\r` or none), so joining the lines back gives the
 * original bytes and an edit touches only the lines it means to.
 */

export interface Line {
  text: string;
  /** The line's ending as found: `\r\n`, `\n`, `\r`, or `''` for a last line without one. */
  eol: string;
}

/** Splits `text` into lines with their endings; `joinLines(splitLines(t)) === t`. */
export function splitLines(text: string): Line[] {
  const out: Line[] = [];
  const re = /([^\r\n]*)(\r\n|\n|\r|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0] === '') {
      break;
    }
    out.push({ text: m[1], eol: m[2] });
  }
  return out;
}

export function joinLines(lines: Line[]): string {
  return lines.map((l) => l.text + l.eol).join('');
}

/**
 * `active_hours` windows (README.md): `HH:MM-HH:MM` in the user's local time. The start is
 * inclusive and the end exclusive, so `08:00-20:00` admits 08:00 … 19:59. A window whose end is
 * before its start wraps midnight (`22:00-06:00`), and `00:00-24:00` means always.
 */
import { InvalidInputError } from '../errors';

export const ACTIVE_HOURS_FORMAT =
  'HH:MM-HH:MM (24-hour local time, e.g. 08:00-20:00; 22:00-06:00 wraps midnight; 00:00-24:00 means always)';

const MINUTES_PER_DAY = 24 * 60;
const WINDOW_RE = /^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$/;

export interface ActiveHoursWindow {
  /** The window as given (trimmed). */
  readonly text: string;
  /** Minutes after local midnight, inclusive (0–1439). */
  readonly startMinute: number;
  /** Minutes after local midnight, exclusive (1–1440). Less than `startMinute` when it wraps. */
  readonly endMinute: number;
  /** `00:00-24:00`: every minute of the day. */
  readonly always: boolean;
  /** The end is before the start: the window spans midnight. */
  readonly wrapsMidnight: boolean;
}

/**
 * Parses an `active_hours` string.
 *
 * @throws InvalidInputError when the text is not `HH:MM-HH:MM`, a time is out of range (hours
 *   00–23, or 24:00 as an end only; minutes 00–59), or start equals end (an empty or ambiguous
 *   window — use `00:00-24:00` for always). The message names the expected format.
 */
export function parseActiveHours(text: string): ActiveHoursWindow {
  const trimmed = typeof text === 'string' ? text.trim() : '';
  const m = WINDOW_RE.exec(trimmed);
  if (!m) {
    throw invalid(text, 'it is not two times joined by a dash');
  }
  const start = toMinute(m[1], m[2], false);
  const end = toMinute(m[3], m[4], true);
  if (start === undefined) {
    throw invalid(text, `the start '${m[1]}:${m[2]}' is not a time between 00:00 and 23:59`);
  }
  if (end === undefined) {
    throw invalid(text, `the end '${m[3]}:${m[4]}' is not a time between 00:00 and 24:00`);
  }
  if (start === end) {
    throw invalid(
      text,
      'the start equals the end, so the window is empty or ambiguous (use 00:00-24:00 for always)',
    );
  }
  // `22:00-24:00` needs no wrap: 24:00 is minute 1440, the exclusive end of the day.
  const always = start === 0 && end === MINUTES_PER_DAY;
  return {
    text: trimmed,
    startMinute: start,
    endMinute: end,
    always,
    wrapsMidnight: end < start,
  };
}

/**
 * Whether a local time falls inside the window (start inclusive, end exclusive).
 * Never throws; hour/minute outside their ranges are taken modulo a day.
 */
export function isWithinActiveHours(
  window: ActiveHoursWindow,
  time: { hour: number; minute: number },
): boolean {
  if (window.always) {
    return true;
  }
  const t = (((time.hour * 60 + time.minute) % MINUTES_PER_DAY) + MINUTES_PER_DAY) % MINUTES_PER_DAY;
  if (window.wrapsMidnight) {
    return t >= window.startMinute || t < window.endMinute;
  }
  return t >= window.startMinute && t < window.endMinute;
}

/** `HH:MM` for a local time (used in messages). */
export function formatLocalTime(time: { hour: number; minute: number }): string {
  return `${String(time.hour).padStart(2, '0')}:${String(time.minute).padStart(2, '0')}`;
}

function toMinute(hh: string, mm: string, isEnd: boolean): number | undefined {
  const h = Number(hh);
  const min = Number(mm);
  if (min > 59) {
    return undefined;
  }
  if (h === 24 && min === 0 && isEnd) {
    return MINUTES_PER_DAY;
  }
  if (h > 23) {
    return undefined;
  }
  return h * 60 + min;
}

function invalid(text: unknown, why: string): InvalidInputError {
  const shown =
    typeof text === 'string' ? `'${text.length > 40 ? `${text.slice(0, 40)}…` : text}'` : `a ${typeof text}`;
  return new InvalidInputError(`Invalid active_hours ${shown}: ${why}. Expected ${ACTIVE_HOURS_FORMAT}.`, {
    field: 'active_hours',
  });
}

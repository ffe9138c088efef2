/**
 * The words and checks behind editing a credential's request rules and placement in VS Code (Edit
 * Scopes… and Set Placement…): what a rule or placement entry typed in a box gets told, and how rules
 * follow a change of scopes. Free of `vscode` (unit-tested in plain Node); the checks themselves are
 * the core's (`policy/requestRules.ts`), so the editor, the CLI and the store agree.
 */
import { parseScopeRule, placementProblem, SAFE_METHODS } from '../../core/policy/requestRules';

/** At most this many rules per scope (the store's limit). */
export const MAX_RULES_PER_SCOPE = 32;

/** What is wrong with `text` as a new rule next to `existing`, saying what to type instead. */
export function ruleProblem(text: string, existing: readonly string[]): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') {
    return 'Type a rule such as "GET /api/v1/search*" (METHOD may be * or GET|HEAD; * in the path matches anything).';
  }
  const parsed = parseScopeRule(trimmed);
  if (typeof parsed === 'string') {
    return `${parsed[0].toUpperCase()}${parsed.slice(1)}.`;
  }
  if (existing.includes(parsed.text)) {
    return `This scope already has the rule "${parsed.text}".`;
  }
  if (existing.length >= MAX_RULES_PER_SCOPE) {
    return `A scope may have at most ${MAX_RULES_PER_SCOPE} rules: remove one first.`;
  }
  return undefined;
}

/**
 * A placement list typed as `header:Authorization, query:api_key`: the entries, `null` for an empty
 * box (anywhere), or the first problem with the entry named.
 */
export function parsePlacementText(text: string): { placement: string[] | null } | { problem: string } {
  const entries = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (entries.length === 0) {
    return { placement: null };
  }
  const seen = new Set<string>();
  for (const [i, entry] of entries.entries()) {
    const problem = placementProblem(entry);
    if (problem) {
      return { problem: `Entry ${i + 1} ("${entry.slice(0, 40)}"): ${problem}.` };
    }
    if (seen.has(entry)) {
      return { problem: `Entry ${i + 1} ("${entry}") is listed twice: remove one.` };
    }
    seen.add(entry);
  }
  if (entries.length > 16) {
    return { problem: 'At most 16 placements: remove some.' };
  }
  return { placement: entries };
}

/** The rules of the scopes that remain (a scope that was removed takes its rules with it). */
export function rulesForScopes(
  rules: Readonly<Record<string, readonly string[]>> | undefined,
  scopes: readonly string[],
): Record<string, string[]> {
  const kept: Record<string, string[]> = {};
  for (const [scope, list] of Object.entries(rules ?? {})) {
    if (scopes.includes(scope) && list.length > 0) {
      kept[scope] = [...list];
    }
  }
  return kept;
}

/** One line for a scope's rules (tree item description, pick description). */
export function describeRules(rules: readonly string[] | undefined): string {
  return rules?.length
    ? rules.join(', ')
    : `no rules: ${SAFE_METHODS.join('/')} only (other methods need a sensitive scope)`;
}

/** One line for a placement list. */
export function describePlacement(placement: readonly string[] | undefined | null): string {
  return placement?.length ? placement.join(', ') : 'anywhere (no placement pin)';
}

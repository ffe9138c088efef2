/**
 * The "request rules" step of Edit Scopes…: per scope, add or remove method/path rules for
 * `http_request` (README.md, "Use, don't read"). A list of scopes with their rules → a scope → its
 * rules (pick one to remove it) or "Add a rule…" (a box that says what to fix) → back. Resolves the
 * new rules, or undefined when cancelled (Esc): nothing is saved then.
 */
import * as vscode from 'vscode';
import { describeRules, ruleProblem, rulesForScopes } from './requestRulesText';

const DONE = '$(check) Done';
const ADD = '$(add) Add a rule…';
const BACK = '$(arrow-left) Back';
const REMOVE = '$(trash) ';

export async function editRequestRules(
  title: string,
  scopes: readonly string[],
  current: Readonly<Record<string, readonly string[]>> | undefined,
): Promise<Record<string, string[]> | undefined> {
  const rules = rulesForScopes(current, scopes);
  for (;;) {
    const items: vscode.QuickPickItem[] = [
      { label: DONE, detail: 'Save these rules.' },
      ...scopes.map((s) => ({ label: s, description: describeRules(rules[s]) })),
    ];
    const scope = await vscode.window.showQuickPick(items, {
      title: `${title}: request rules of http_request`,
      placeHolder: 'Pick a scope to add or remove its METHOD /path rules; Done saves',
      ignoreFocusOut: true,
    });
    if (!scope) {
      return undefined;
    }
    if (scope.label === DONE) {
      return rules;
    }
    const edited = await editScope(title, scope.label, rules[scope.label] ?? []);
    if (edited === undefined) {
      return undefined;
    }
    if (edited.length) {
      rules[scope.label] = edited;
    } else {
      delete rules[scope.label];
    }
  }
}

/** One scope's rules; resolves the new list (on Back), or undefined when cancelled. */
async function editScope(title: string, scope: string, start: string[]): Promise<string[] | undefined> {
  const list = [...start];
  for (;;) {
    const picked = await vscode.window.showQuickPick(
      [
        { label: BACK, detail: describeRules(list) },
        { label: ADD, detail: 'e.g. GET /api/v1/search* or GET|HEAD /v1/*' },
        ...list.map((r) => ({ label: `${REMOVE}${r}`, description: 'remove this rule' })),
      ],
      { title: `${title}: rules of scope '${scope}'`, ignoreFocusOut: true },
    );
    if (!picked) {
      return undefined;
    }
    if (picked.label === BACK) {
      return list;
    }
    if (picked.label === ADD) {
      const text = await vscode.window.showInputBox({
        title: `${title}: a rule for scope '${scope}'`,
        prompt: 'METHOD /path — METHOD may be * or GET|HEAD; * in the path matches anything',
        placeHolder: 'GET /api/v1/search*',
        ignoreFocusOut: true,
        validateInput: (t) => ruleProblem(t, list),
      });
      if (text !== undefined && !ruleProblem(text, list)) {
        list.push(text.trim());
      }
      continue;
    }
    list.splice(list.indexOf(picked.label.slice(REMOVE.length)), 1);
  }
}

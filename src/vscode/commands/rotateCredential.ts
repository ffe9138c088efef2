/**
 * `agentKeyring.rotateCredential`: a new value for a credential, current at once for every agent.
 * Steps: pick the credential (unless given) → "Enter a new value" or "Generate" (when it has a
 * generator) → grace period for the previous value (none / 5 min / 1 h / 24 h) → a message with
 * the new version.
 *
 * Args: `{ name, value?, generate?, graceSeconds? }` — with `value` or `generate: true` no prompt
 * is shown (grace defaults to none). Resolves the core's RotateResult. A few seconds later the
 * status bar and the log say how many running MCP servers restarted (restartReport.ts); in test
 * mode `waitForRestarts: true` resolves only then, with that count as `restarted`.
 */
import * as vscode from 'vscode';
import type { RotateResult } from '../../core/api';
import { NoGeneratorError } from '../../core/errors';
import { SecretValue } from '../../core/model';
import { formatLocal } from '../views/format';
import { ACTOR, argObject, optionalNumber, type CommandContext, type CommandHandler } from './commandContext';
import { ask, credentialFromArg, validateSecretValue } from './prompts';
import { reportRestartsLater } from '../restartReport';

const TITLE = 'Rotate Credential';

export const GRACE_CHOICES: readonly { label: string; seconds: number; detail: string }[] = [
  { label: 'No grace period', seconds: 0, detail: 'The previous value stops being handed out at once.' },
  { label: '5 minutes', seconds: 300, detail: 'The previous value stays valid upstream for 5 minutes.' },
  { label: '1 hour', seconds: 3_600, detail: 'The previous value stays valid upstream for 1 hour.' },
  { label: '24 hours', seconds: 86_400, detail: 'The previous value stays valid upstream for 24 hours.' },
];

export function rotateCredential(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const admin = ctx.keyring.admin;
    const args = argObject(arg);
    const cred = await credentialFromArg(admin, arg, TITLE);
    if (!cred) {
      return undefined;
    }
    const name = cred.name;
    const hasGenerator = cred.rotation?.generator !== undefined;
    const title = `${TITLE}: ${name} (v${cred.version})`;

    let value: SecretValue | undefined;
    let graceSeconds: number;
    if (typeof args?.value === 'string' || args?.generate === true) {
      if (typeof args.value === 'string') {
        value = new SecretValue(args.value);
      } else if (!hasGenerator) {
        throw new NoGeneratorError(name);
      }
      graceSeconds = optionalNumber(args, 'graceSeconds') ?? 0;
    } else {
      const totalSteps = hasGenerator ? 3 : 2;
      let step = 1;
      let generate = false;
      if (hasGenerator) {
        const how = await vscode.window.showQuickPick(
          [
            {
              label: 'Generate',
              description: `${cred.rotation?.generator?.length} random characters`,
              generate: true,
            },
            { label: 'Enter a new value', description: 'paste the key you made upstream', generate: false },
          ],
          {
            title: `${title} (${step}/${totalSteps})`,
            placeHolder: 'Where does the new value come from?',
            ignoreFocusOut: true,
          },
        );
        if (!how) {
          return undefined;
        }
        generate = how.generate;
        step++;
      }
      if (!generate) {
        const raw = await ask(
          { title, step, totalSteps },
          {
            prompt: `Paste the new value for '${name}'. Every agent gets it on its next request.`,
            password: true,
            validate: validateSecretValue,
          },
        );
        if (raw === undefined) {
          return undefined;
        }
        value = new SecretValue(raw);
      }
      step++;
      const grace = await vscode.window.showQuickPick(
        GRACE_CHOICES.map((g) => ({ ...g })),
        {
          title: `${title} (${step}/${totalSteps})`,
          placeHolder: 'How long may the previous value keep working upstream?',
          ignoreFocusOut: true,
        },
      );
      if (!grace) {
        return undefined;
      }
      graceSeconds = grace.seconds;
    }

    const rotatedAt = Date.now();
    const { audit_warning: auditWarning, ...result }: RotateResult & { audit_warning?: string } =
      await admin.rotateCredential(name, { value, graceSeconds }, ACTOR);
    const restarts = reportRestartsLater(
      { auditSource: ctx.keyring.auditSource, logger: ctx.logger },
      name,
      result.version,
      rotatedAt,
    ).catch(() => undefined);
    if (auditWarning) {
      void vscode.window.showWarningMessage(`Agent Keyring: ${auditWarning}`);
    }
    ctx.logger.info(`Credential '${name}' rotated to version ${result.version} by ${ACTOR}.`);
    ctx.refreshViews();
    if (!args || args.kind === 'credential') {
      void vscode.window.showInformationMessage(
        `Agent Keyring: '${name}' is now version ${result.version}. ${
          result.previous_valid_until
            ? `Version ${result.previous_version} stays valid until ${formatLocal(result.previous_valid_until)}.`
            : `Version ${result.previous_version} is retired.`
        }`,
      );
    }
    if (ctx.testMode && args?.waitForRestarts === true) {
      return { ...result, restarted: await restarts };
    }
    return result;
  };
}

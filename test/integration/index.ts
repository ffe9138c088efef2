/**
 * Entry point of the integration suite inside the VS Code extension host: the `extensionTestsPath`
 * module. Same contract as `@vscode/test-electron` (`run(): Promise<void>`), so the suite also runs
 * on a desktop VS Code.
 *
 * The remote extension host forwards console output unformatted, so the results are also written
 * as JSON to `AKR_INTEGRATION_REPORT` (set by scripts/vscode/run-integration.mjs; default
 * `<tmpdir>/akr-integration-report.json`), which the runner prints with a closing
 * `N passed, N failed` line. Rejects when any test failed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Mocha from 'mocha';

interface TestRecord {
  fullTitle: string;
  state: 'passed' | 'failed' | 'pending';
  durationMs?: number;
  error?: string;
}

export interface IntegrationReport {
  passed: number;
  failed: number;
  pending: number;
  durationMs: number;
  tests: TestRecord[];
}

function reportPath(): string {
  return process.env.AKR_INTEGRATION_REPORT ?? path.join(os.tmpdir(), 'akr-integration-report.json');
}

function findTests(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => path.join(dir, f));
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    return err.stack ?? `${err.name}: ${err.message}`;
  }
  return String(err);
}

export async function run(): Promise<void> {
  const started = Date.now();
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 30_000 });
  const grep = process.env.AKR_INTEGRATION_GREP;
  if (grep) {
    mocha.grep(grep);
  }
  for (const file of findTests(__dirname)) {
    mocha.addFile(file);
  }

  const report: IntegrationReport = { passed: 0, failed: 0, pending: 0, durationMs: 0, tests: [] };
  const write = (): void => {
    report.durationMs = Date.now() - started;
    const file = reportPath();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  };

  await new Promise<void>((resolve, reject) => {
    let runner: Mocha.Runner;
    try {
      runner = mocha.run((failures) => {
        write();
        if (failures > 0) {
          reject(new Error(`${failures} integration test(s) failed. See the report: ${reportPath()}`));
        } else {
          resolve();
        }
      });
    } catch (e) {
      // A test file that throws while loading: report it as a failure rather than no report at all.
      report.failed += 1;
      report.tests.push({
        fullTitle: 'loading the integration test files',
        state: 'failed',
        error: describeError(e),
      });
      write();
      reject(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    runner.on('pass', (t) => {
      report.passed += 1;
      report.tests.push({ fullTitle: t.fullTitle(), state: 'passed', durationMs: t.duration });
    });
    runner.on('fail', (t, err) => {
      report.failed += 1;
      report.tests.push({
        fullTitle: t.fullTitle(),
        state: 'failed',
        durationMs: t.duration,
        error: describeError(err),
      });
    });
    runner.on('pending', (t) => {
      report.pending += 1;
      report.tests.push({ fullTitle: t.fullTitle(), state: 'pending' });
    });
  });
}

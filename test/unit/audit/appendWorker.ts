/**
 * Child-process helper for multiProcess.test.ts: appends N events to one audit file in waves of
 * concurrent appends, then prints `{"batches": B, "appended": N}` and exits.
 *   node appendWorker.js <auditPath> <count> <tag> [startAtEpochMs]
 * The optional start time lines both workers up so their appends really overlap.
 */
import { AuditLog } from '../../../src/core/audit/auditLog';
import { SYSTEM_CLOCK } from '../../../src/core/ports';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { TEST_KEY, sampleInput } from './helpers';

async function main(): Promise<void> {
  const [file, countArg, tag, startAt] = process.argv.slice(2);
  const count = Number(countArg);
  const logger = new RecordingLogger();
  const log = await AuditLog.open({ path: file, hmacKey: TEST_KEY, clock: SYSTEM_CLOCK, logger });
  let batches = 0;
  log.onDidAppend(() => batches++);
  const wait = Number(startAt ?? 0) - Date.now();
  if (wait > 0) {
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  const WAVE = 10;
  for (let i = 0; i < count; i += WAVE) {
    const wave = [];
    for (let j = i; j < Math.min(count, i + WAVE); j++) {
      wave.push(log.append(sampleInput(j, { agent_id: tag, lease_id: `${tag}-${j}` })));
    }
    await Promise.all(wave);
  }
  await log.close();
  process.stdout.write(JSON.stringify({ batches, appended: count, errors: logger.at('error') }) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`appendWorker failed: ${(e as Error).message}\n`);
  process.exit(1);
});

/**
 * The team store's "someone appended to the audit trail" notice: at most one per interval (the
 * first at once, the rest of a burst in one trailing notice), and a pending one is sent on flush —
 * before a short-lived CLI closes the store.
 */
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { AuditAppendNotice } from '../../../src/core/store/postgres/postgresAudit';

function recorder(): { sent: string[]; notify: (payload: string) => Promise<boolean> } {
  const sent: string[] = [];
  return {
    sent,
    notify: (payload) => {
      sent.push(payload);
      return Promise.resolve(true);
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('AuditAppendNotice', () => {
  test('a burst of appends makes one notice at once and one trailing notice', async () => {
    const r = recorder();
    const notice = new AuditAppendNotice(r, 100);
    for (let i = 0; i < 20; i++) {
      notice.appended();
    }
    assert.deepEqual(r.sent, ['a:'], 'the first append is told at once');
    await sleep(160);
    assert.deepEqual(r.sent, ['a:', 'a:'], 'the rest of the burst in one trailing notice');
    await sleep(160);
    assert.equal(r.sent.length, 2, 'nothing more without appends');
    notice.dispose();
  });

  test('flush sends a pending notice now; dispose drops it', async () => {
    const r = recorder();
    const notice = new AuditAppendNotice(r, 10_000);
    notice.appended();
    notice.appended();
    assert.equal(r.sent.length, 1);
    await notice.flush();
    assert.equal(r.sent.length, 2, 'the pending notice went out on flush');
    await notice.flush();
    assert.equal(r.sent.length, 2, 'nothing pending, nothing sent');
    notice.appended();
    notice.dispose();
    await sleep(20);
    assert.equal(r.sent.length, 2, 'a disposed notice sends nothing');
  });

  test('a failed send is not thrown at the writer', async () => {
    const notice = new AuditAppendNotice({ notify: () => Promise.reject(new Error('connection down')) }, 10);
    notice.appended();
    await notice.flush();
    notice.dispose();
  });
});

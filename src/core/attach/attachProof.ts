/**
 * The attach challenge (README.md, "In VS Code"): before a window uses a server it did not start
 * (and before VS Code sends that server the built-in `vscode` agent's token), the server must prove
 * it holds this store's attach secret (`attachKey.ts`).
 *
 * The window sends a random 32-byte nonce to `GET /agent-keyring/attach-proof?nonce=<hex>` (no
 * token). A server of the same store answers `{ server_nonce, proof }` with
 * `proof = HMAC-SHA256(proofKey, label ‖ client nonce ‖ server nonce ‖ port)`, where
 * `proofKey = HKDF-SHA256(attach secret, "agent-keyring", "attach proof v1")`. The port binds the
 * answer to the port the window asked, so a program on one port cannot relay the question to the
 * real keyring on another and pass its answer on. The endpoint answers nothing else and tells
 * nothing about the store; the window compares in constant time.
 */
import * as crypto from 'node:crypto';
import { smallRequest } from '../net/smallRequest';

export const ATTACH_PROOF_PATH = '/agent-keyring/attach-proof';
const LABEL = Buffer.from('agent-keyring attach proof v1\0', 'utf8');
const NONCE_BYTES = 32;
const HEX_NONCE = /^[0-9a-f]{64}$/;
/** Our answer is about 170 bytes; anything longer is not ours. */
const MAX_ANSWER_BYTES = 4096;

/** The key both sides compute the proof with (never the stored secret itself). */
export function deriveProofKey(attachSecret: Buffer): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', attachSecret, 'agent-keyring', 'attach proof v1', 32));
}

function proofOf(proofKey: Buffer, clientNonce: Buffer, serverNonce: Buffer, port: number): Buffer {
  const portBytes = Buffer.alloc(4);
  portBytes.writeUInt32BE(port);
  return crypto
    .createHmac('sha256', proofKey)
    .update(LABEL)
    .update(clientNonce)
    .update(serverNonce)
    .update(portBytes)
    .digest();
}

/**
 * The server's side: the answer to `nonce` (hex) on `port`, or undefined when the nonce is not
 * 64 lowercase hex characters (the caller answers 400).
 */
export function answerChallenge(
  proofKey: Buffer,
  nonceHex: string,
  port: number,
): { server_nonce: string; proof: string } | undefined {
  if (!HEX_NONCE.test(nonceHex)) {
    return undefined;
  }
  const serverNonce = crypto.randomBytes(NONCE_BYTES);
  const proof = proofOf(proofKey, Buffer.from(nonceHex, 'hex'), serverNonce, port);
  return { server_nonce: serverNonce.toString('hex'), proof: proof.toString('hex') };
}

/** What the challenge found: the same store proved it, or it did not (`unproven`), or no clear answer. */
export type AttachProofResult = 'sameStore' | 'unproven' | 'noAnswer';

/**
 * The window's side: asks the server on `port` to prove it serves the store of `proofKey`. Sends
 * no token and nothing about the store; one request on a fresh connection.
 * `unproven` = an HTTP answer that is not a valid proof (another store, an older Agent Keyring, a
 * program imitating one); `noAnswer` = no HTTP answer in time (busy, hung, gone).
 */
export async function proveSameStore(
  port: number,
  proofKey: Buffer,
  opts: { host?: string; timeoutMs?: number } = {},
): Promise<AttachProofResult> {
  const clientNonce = crypto.randomBytes(NONCE_BYTES);
  const answer = await smallRequest({
    host: opts.host ?? '127.0.0.1',
    port,
    path: `${ATTACH_PROOF_PATH}?nonce=${clientNonce.toString('hex')}`,
    method: 'GET',
    headers: { Accept: 'application/json' },
    timeoutMs: opts.timeoutMs ?? 2_000,
    maxBytes: MAX_ANSWER_BYTES,
  });
  switch (answer.kind) {
    case 'answer':
      return answer.status === 200 && checkAnswer(answer.body, proofKey, clientNonce, port)
        ? 'sameStore'
        : 'unproven';
    case 'tooLarge':
    case 'notHttp':
      return 'unproven';
    case 'refused':
    case 'noAnswer':
      return 'noAnswer';
  }
}

function checkAnswer(body: Buffer, proofKey: Buffer, clientNonce: Buffer, port: number): boolean {
  let answer: unknown;
  try {
    answer = JSON.parse(body.toString('utf8'));
  } catch {
    return false;
  }
  const { server_nonce: serverNonce, proof } = (answer ?? {}) as Record<string, unknown>;
  if (typeof serverNonce !== 'string' || typeof proof !== 'string') {
    return false;
  }
  if (!HEX_NONCE.test(serverNonce) || !HEX_NONCE.test(proof)) {
    return false;
  }
  const expected = proofOf(proofKey, clientNonce, Buffer.from(serverNonce, 'hex'), port);
  return crypto.timingSafeEqual(expected, Buffer.from(proof, 'hex'));
}

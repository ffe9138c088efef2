/**
 * `GET /agent-keyring/attach-proof?nonce=<64 hex>`: the one endpoint without a token. It answers
 * the attach challenge of `core/attach/attachProof.ts` (so a VS Code window can tell this server
 * serves its store before it sends the in-editor token) and nothing else: no store name, no
 * version, no counts. Host and Origin are checked as for `/mcp`.
 */
import type * as http from 'node:http';
import { answerChallenge } from '../attach/attachProof';
import { Refusal } from './refusal';

export function serveAttachProof(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  proofKey: Buffer,
  port: number,
): void {
  if (req.method !== 'GET') {
    throw new Refusal(405, -32000, 'Method not allowed: the attach proof is GET only.', { Allow: 'GET' });
  }
  let nonce = '';
  try {
    nonce = new URL(req.url ?? '', 'http://127.0.0.1').searchParams.get('nonce') ?? '';
  } catch {
    // answered below as a bad nonce
  }
  const answer = answerChallenge(proofKey, nonce, port);
  if (!answer) {
    throw new Refusal(
      400,
      -32602,
      'Bad Request: send ?nonce= with 32 random bytes as 64 lowercase hex digits.',
    );
  }
  const text = JSON.stringify(answer);
  res
    .writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    })
    .end(text);
}

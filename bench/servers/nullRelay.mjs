// The floor for any stdio process in the middle (bench/runMcp.mjs): starts the command given as
// arguments and copies bytes both ways with nothing else — no framing, no parsing, no keys. What
// `run --mcp` costs beyond this is its own work; what this costs over a direct connection is the
// extra process hop (two more pipe writes and wake-ups per round trip).
//
//   node bench/servers/nullRelay.mjs -- node server.mjs
import { spawn } from 'node:child_process';

const args = process.argv.slice(process.argv.indexOf('--') + 1);
const child = spawn(args[0], args.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
process.stdin.on('data', (b) => child.stdin.write(b));
process.stdin.on('end', () => child.stdin.end());
child.stdout.on('data', (b) => process.stdout.write(b));
child.on('exit', (code) => process.exit(code ?? 1));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => child.kill(sig));
}

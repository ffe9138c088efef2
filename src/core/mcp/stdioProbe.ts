/**
 * Starts a stdio MCP server the way a client would (the SDK Client over stdio), lists its tools and
 * stops it: migrate's check that each rewritten server still starts. The reason for a failure is
 * the server's last stderr line with the given secrets redacted, or what timed out.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { redact } from '../audit/redact';

export type ProbeResult = { ok: true; tools: number } | { ok: false; reason: string };

export async function probeStdioServer(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  opts: { timeoutMs: number; secrets?: readonly string[] },
): Promise<ProbeResult> {
  const transport = new StdioClientTransport({ command, args: [...args], env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-4096);
  });
  const client = new Client({ name: 'agent-keyring-migrate-check', version: '1.0.0' });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no tool list within ${Math.round(opts.timeoutMs / 1000)} s`)),
      opts.timeoutMs,
    );
  });
  try {
    const tools = await Promise.race([
      (async () => {
        await client.connect(transport);
        return (await client.listTools()).tools.length;
      })(),
      timeout,
    ]);
    return { ok: true, tools };
  } catch (e) {
    const last = stderr
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .pop();
    const why =
      e instanceof Error && e.message.startsWith('no tool list')
        ? e.message
        : 'it stopped before listing its tools';
    const reason = last ? `${why}: ${last.slice(0, 300)}` : why;
    return { ok: false, reason: redact(reason, opts.secrets ?? []) };
  } finally {
    clearTimeout(timer);
    await client.close().catch(() => undefined);
    await transport.close().catch(() => undefined);
  }
}

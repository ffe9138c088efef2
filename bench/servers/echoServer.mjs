// The trivial MCP server both SDK baselines serve: one `echo` tool, SDK defaults.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

export function newEchoServer(name) {
  const server = new McpServer({ name, version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'Echoes its input', inputSchema: { text: z.string().describe('text to echo') } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  return server;
}

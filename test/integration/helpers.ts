/** Shared helpers of the integration suite (runs inside the VS Code extension host). */
import * as vscode from 'vscode';
import type { AgentKeyringTestApi } from '../../src/extension';

export const EXTENSION_ID = 'agent-keyring.agent-keyring';

/** Activates the extension under test and returns its test-only API. */
export async function activateExtension(): Promise<{
  extension: vscode.Extension<AgentKeyringTestApi | undefined>;
  api: AgentKeyringTestApi;
}> {
  const extension = vscode.extensions.getExtension<AgentKeyringTestApi | undefined>(EXTENSION_ID);
  if (!extension) {
    throw new Error(`Extension ${EXTENSION_ID} is not loaded: is extensionDevelopmentPath the repo root?`);
  }
  const api = await extension.activate();
  if (!api) {
    throw new Error(
      'activate() returned no test API: the extension did not start (see the Agent Keyring log) or is not in ExtensionMode.Test.',
    );
  }
  return { extension, api };
}

/** Resolves when `predicate` holds, polling every 50 ms; rejects with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Names of the Agent Keyring MCP tools as VS Code lists them (`mcp_agent-keyring_<tool>`; `mcp_agent_keyring_<tool>` on 1.103). */
export const MCP_TOOLS = ['get_credential', 'list_credentials', 'rotate_credential', 'http_request'];

export function ourTools(): Map<string, vscode.LanguageModelToolInformation> {
  const found = new Map<string, vscode.LanguageModelToolInformation>();
  for (const tool of vscode.lm.tools) {
    if (!tool.name.startsWith('mcp_')) {
      continue;
    }
    for (const t of MCP_TOOLS) {
      if (tool.name.endsWith(`_${t}`) && /keyring/i.test(tool.name)) {
        found.set(t, tool);
      }
    }
  }
  return found;
}

/**
 * Asks VS Code to start our MCP server and waits for its tools. Newer VS Code takes '*' (every
 * server); 1.103 (the oldest in engines.vscode, README.md "Requirements") takes only a definition
 * id, which for a provider's server is `<extension id, lower case>/<label>`, so '*' starts nothing
 * there. One call of each works on both.
 */
const MCP_SERVER_LABEL = 'Agent Keyring'; // MCP_SERVER_LABEL of src/vscode/server/mcpProvider.ts
export async function startMcpServers(): Promise<void> {
  const options = { waitForLiveTools: true };
  await vscode.commands.executeCommand('workbench.mcp.startServer', '*', options);
  if (ourTools().size < MCP_TOOLS.length) {
    const id = `${EXTENSION_ID.toLowerCase()}/${MCP_SERVER_LABEL}`;
    await vscode.commands.executeCommand('workbench.mcp.startServer', id, options);
  }
}

/**
 * Stops and starts our MCP server in VS Code, as a person does with "MCP: Restart Server" — needed
 * on VS Code 1.103 after the window switched stores: it keeps the server it had stopped (its tools
 * listed but "not contributed") instead of starting it again for the new definition.
 */
export async function restartMcpServer(): Promise<void> {
  const id = `${EXTENSION_ID.toLowerCase()}/${MCP_SERVER_LABEL}`;
  await vscode.commands.executeCommand('workbench.mcp.stopServer', id).then(undefined, () => undefined);
  await startMcpServers();
}

/** Starts the MCP server in VS Code (if needed) and resolves the named tool. */
export async function mcpTool(name: string): Promise<vscode.LanguageModelToolInformation> {
  return waitFor(`the MCP tool ${name}`, async () => {
    const t = ourTools().get(name);
    if (t) {
      return t;
    }
    await startMcpServers();
    return ourTools().get(name);
  });
}

/** Every text the result (or the error it threw) carries, for assertions. */
export async function invokeTool(name: string, input: object): Promise<{ text: string; threw: boolean }> {
  try {
    const result = await vscode.lm.invokeTool(name, { input, toolInvocationToken: undefined });
    const parts = result.content.map((p) => {
      if (p instanceof vscode.LanguageModelTextPart) {
        return p.value;
      }
      // LanguageModelDataPart is newer than the oldest VS Code we support (1.103): look it up at run time.
      const dataPart = (vscode as { LanguageModelDataPart?: new (...args: never[]) => { data: Uint8Array } })
        .LanguageModelDataPart;
      if (dataPart && p instanceof dataPart) {
        return Buffer.from(p.data).toString('utf8');
      }
      return JSON.stringify(p);
    });
    return { text: parts.join('\n'), threw: false };
  } catch (e) {
    return { text: e instanceof Error ? `${e.name}: ${e.message}` : String(e), threw: true };
  }
}

/** The value in a get_credential result's JSON text, or undefined. */
export function valueOf(text: string): string | undefined {
  const m = /"value":\s*"([^"]*)"/.exec(text);
  return m?.[1];
}

export interface RenderedItem {
  depth: number;
  label: string;
  description: string;
  tooltip: string;
  contextValue?: string;
  id?: string;
}

/** Renders a whole tree (every node, expanded) as the user could see it: labels, descriptions, tooltips. */
export async function renderTree<T>(provider: vscode.TreeDataProvider<T>): Promise<RenderedItem[]> {
  const out: RenderedItem[] = [];
  const walk = async (parent: T | undefined, depth: number): Promise<void> => {
    const children = (await provider.getChildren(parent)) ?? [];
    for (const child of children) {
      const item = await provider.getTreeItem(child);
      const label = typeof item.label === 'string' ? item.label : (item.label?.label ?? '');
      const description = typeof item.description === 'string' ? item.description : '';
      const tooltip =
        typeof item.tooltip === 'string'
          ? item.tooltip
          : item.tooltip instanceof vscode.MarkdownString
            ? item.tooltip.value
            : '';
      out.push({ depth, label, description, tooltip, contextValue: item.contextValue, id: item.id });
      if (
        item.collapsibleState !== undefined &&
        item.collapsibleState !== vscode.TreeItemCollapsibleState.None
      ) {
        await walk(child, depth + 1);
      }
    }
  };
  await walk(undefined, 0);
  return out;
}

/** Fails when any rendered text contains one of the secrets (or their length as a hint). */
export function assertNoSecret(items: RenderedItem[], secrets: string[]): void {
  for (const item of items) {
    const text = `${item.label}\n${item.description}\n${item.tooltip}\n${item.id ?? ''}`;
    for (const s of secrets) {
      if (text.includes(s)) {
        throw new Error(`A tree item shows a secret value: '${item.label}' (depth ${item.depth}).`);
      }
    }
  }
}

/** Resolves on the provider's next change event. */
export function nextChange<T>(provider: vscode.TreeDataProvider<T>, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub?.dispose();
      reject(new Error(`No onDidChangeTreeData within ${timeoutMs} ms.`));
    }, timeoutMs);
    const sub = provider.onDidChangeTreeData?.(() => {
      clearTimeout(timer);
      sub?.dispose();
      resolve();
    });
  });
}

/**
 * The MCP HTTP host as the extension side sees it: the same `startHttpHost` as
 * `core/mcp/http.ts`, but its module (the MCP SDK with its protocol schemas, our transport and
 * tools: most of the extension's code) is loaded on the first start, not at activation. esbuild
 * builds that module as dist/server.js and turns the dynamic import below into
 * `require('./server.js')` (see scripts/build/entries.mjs); the build fails if anything on the extension side
 * imports `core/mcp/` any other way. Free of `vscode`.
 */
import type * as Http from '../../core/mcp/http';

/** The MCP endpoint path; typed as the core's literal, so the compiler checks they are the same. */
export const MCP_PATH: typeof Http.MCP_PATH = '/mcp';

let loaded: Promise<typeof Http> | undefined;
let loadMs: number | undefined;

/** Loads the host's module once; a failed load (e.g. dist/server.js missing) is tried again next time. */
function loadHttpModule(): Promise<typeof Http> {
  if (!loaded) {
    const started = performance.now();
    loaded = import('../../core/mcp/http.js').then(
      (mod) => {
        loadMs = performance.now() - started;
        return mod;
      },
      (e: unknown) => {
        loaded = undefined;
        throw e;
      },
    );
  }
  return loaded;
}

/** Binds and serves (see `core/mcp/http.ts`), loading the host's code first if needed. */
export async function startHttpHost(opts: Http.HttpHostOptions): Promise<Http.HttpHost> {
  const http = await loadHttpModule();
  return http.startHttpHost(opts);
}

/** How long loading the host's code took (ms), once it has been loaded. */
export function hostLoadMs(): number | undefined {
  return loadMs;
}

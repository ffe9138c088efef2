// Reads a V8 .cpuprofile (node --cpu-prof) of the bundled server and says where the time went:
// frames are mapped back through the bundle's source map (dist/cli.js.map) to their original file
// (src/..., or an npm package), then summed as self time per function and per area, and as
// inclusive time per area (an area counts once per sample however deep it appears in the stack).
import * as fs from 'node:fs';
import { SourceMap } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const SPECIAL = new Set(['(garbage collector)', '(idle)', '(program)', '(root)']);

function loadMap(bundle) {
  const mapFile = `${bundle}.map`;
  return fs.existsSync(mapFile) ? new SourceMap(JSON.parse(fs.readFileSync(mapFile, 'utf8'))) : undefined;
}

/** Area of an original source path: npm package name, or the repo path of our file. */
function areaOf(source) {
  const s = source.replace(/\\/g, '/');
  const nm = s.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = s.slice(nm + 'node_modules/'.length).split('/');
    const pkg = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    if (pkg === '@modelcontextprotocol/sdk') {
      // .../dist/cjs/server/streamableHttp.js → sdk server/streamableHttp
      const i = ['cjs', 'esm', 'src'].map((d) => rest.indexOf(d)).find((x) => x >= 0) ?? 1;
      return `sdk ${rest
        .slice(i + 1)
        .join('/')
        .replace(/\.[jt]s$/, '')}`;
    }
    return pkg;
  }
  const src = s.indexOf('src/');
  return src >= 0 ? s.slice(src) : s;
}

export function analyzeProfile(profileFile, bundle) {
  const prof = JSON.parse(fs.readFileSync(profileFile, 'utf8'));
  const map = bundle ? loadMap(bundle) : undefined;
  const bundleUrl = bundle ? `file://${path.resolve(bundle)}` : undefined;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) {
    for (const c of n.children ?? []) {
      parent.set(c, n.id);
    }
  }
  const frameCache = new Map();
  const frame = (n) => {
    let f = frameCache.get(n.id);
    if (f) {
      return f;
    }
    const cf = n.callFrame;
    let name = cf.functionName || '(anonymous)';
    let area;
    let where = '';
    if (SPECIAL.has(cf.functionName)) {
      area = cf.functionName;
    } else if (bundle && (cf.url === bundleUrl || cf.url === path.resolve(bundle))) {
      const e = map?.findEntry(cf.lineNumber, cf.columnNumber);
      if (e && e.originalSource) {
        const src = e.originalSource.startsWith('file://')
          ? fileURLToPath(e.originalSource)
          : e.originalSource;
        area = areaOf(src);
        where = `${area}:${e.originalLine + 1}`;
        name = e.name && name === '(anonymous)' ? e.name : name;
      } else {
        area = 'bundle (unmapped)';
      }
    } else if (cf.url.startsWith('node:')) {
      area = `node:${
        cf.url
          .slice(5)
          .replace(/^internal\//, '')
          .split('/')[0]
      }`;
      where = `${cf.url}:${cf.lineNumber + 1}`;
    } else if (cf.url === '') {
      area = '(native / V8 builtins)';
    } else {
      area = cf.url.includes('node_modules') ? areaOf(cf.url) : path.basename(cf.url);
      where = `${cf.url}:${cf.lineNumber + 1}`;
    }
    f = { key: `${name} ${where}`, name, where, area };
    frameCache.set(n.id, f);
    return f;
  };

  const selfByFn = new Map();
  const selfByArea = new Map();
  const inclByArea = new Map();
  let total = 0;
  const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = (prof.timeDeltas[i + 1] ?? 0) / 1000; // ms spent at sample i
    total += dt;
    const leaf = byId.get(prof.samples[i]);
    const f = frame(leaf);
    add(selfByFn, f.key, dt);
    add(selfByArea, f.area, dt);
    const seen = new Set();
    for (let id = leaf.id; id !== undefined; id = parent.get(id)) {
      const a = frame(byId.get(id)).area;
      if (!seen.has(a)) {
        seen.add(a);
        add(inclByArea, a, dt);
      }
    }
  }
  const top = (m, n) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, ms]) => ({ key: k, ms, pct: (100 * ms) / total }));
  const idle = selfByArea.get('(idle)') ?? 0;
  return {
    totalMs: total,
    idleMs: idle,
    busyMs: total - idle,
    selfByFunction: top(selfByFn, 25),
    selfByArea: top(selfByArea, 20),
    inclusiveByArea: top(inclByArea, 25),
  };
}

/**
 * No import circle in functions/. Among the components: the registry (functions/components/index.ts) names every component,
 * each component takes its contract from components/types.ts, and nothing in a component's folder imports
 * the registry back. A circle there makes the order modules load in decide what is defined (an entry read
 * before its module ran is undefined), and makes every component depend on every other. In the engine:
 * backup ids live in core/backup-id.ts, so the catalog, the manifest check and the workflow input do not
 * reach one another in a ring.
 *
 * The graph is read from the source, not the bundles: every relative `from '…'`, `import '…'` and
 * `import('…')`, type-only imports included (they are how the old circle started).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const REPO_ROOT = resolve(__dirname, '..', '..');
const COMPONENTS = 'functions/components/';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const SPECIFIERS = [/\bfrom\s+['"](\.{1,2}\/[^'"]*|\.{1,2})['"]/g, /\bimport\s*\(?\s*['"](\.{1,2}\/[^'"]*)['"]/g];

/** The repository files a file imports, by path relative to the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const targets = SPECIFIERS.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[1]));
  return targets.flatMap((specifier) => {
    const base = resolve(dirname(file), specifier);
    const found = [`${base}.ts`, join(base, 'index.ts')].find((candidate) => {
      try {
        return statSync(candidate).isFile();
      } catch {
        return false;
      }
    });
    return found ? [relative(REPO_ROOT, found)] : [];
  });
}

function importGraph(roots: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const root of roots) {
    for (const file of sourceFiles(join(REPO_ROOT, root))) graph.set(relative(REPO_ROOT, file), [...new Set(importsOf(file))]);
  }
  return graph;
}

/** Tarjan's strongly connected components with more than one file (or a file importing itself): the circles. */
function circles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (file: string): void => {
    index.set(file, next);
    low.set(file, next);
    next += 1;
    stack.push(file);
    onStack.add(file);
    for (const to of graph.get(file) ?? []) {
      if (!graph.has(to)) continue;
      if (!index.has(to)) {
        visit(to);
        low.set(file, Math.min(low.get(file)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(file, Math.min(low.get(file)!, index.get(to)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let at: string;
    do {
      at = stack.pop()!;
      onStack.delete(at);
      component.push(at);
    } while (at !== file);
    if (component.length > 1 || (graph.get(file) ?? []).includes(file)) found.push(component.sort());
  };
  for (const file of [...graph.keys()].sort()) if (!index.has(file)) visit(file);
  return found;
}

describe('import graph', () => {
  const graph = importGraph(['config', 'functions']);

  it('is read: the registry imports every component folder', () => {
    expect(graph.get(`${COMPONENTS}index.ts`)).toEqual(expect.arrayContaining([`${COMPONENTS}postgres/index.ts`, `${COMPONENTS}types.ts`]));
  });

  it('has no circle anywhere in config/ and functions/ (the configuration model, the engine, the handlers, the components)', () => {
    expect(circles(graph)).toEqual([]);
  });

  it('has no component importing the registry', () => {
    const back = [...graph].filter(([file, imports]) => file.startsWith(COMPONENTS) && file.split('/').length > 3 && imports.includes(`${COMPONENTS}index.ts`));
    expect(back.map(([file]) => file)).toEqual([]);
  });
});

describe('infra/ and functions/ meet only in config/, the configuration model they share', () => {
  const graph = importGraph(['config', 'infra', 'functions']);
  const arrows = (from: string, to: string) =>
    [...graph].flatMap(([file, imports]) => (file.startsWith(from) ? imports.filter((target) => target.startsWith(to)).map((target) => `${file} -> ${target}`) : []));
  const DESCRIPTOR = /^functions\/components\/[^/]+\/descriptor\.ts$/;

  it('is read: both sides import config/', () => {
    expect(arrows('infra/', 'config/').length).toBeGreaterThan(0);
    expect(arrows('functions/', 'config/').length).toBeGreaterThan(0);
  });

  it('has no arrow from infra/ into functions/, from functions/ into infra/, or from config/ into infra/', () => {
    expect([...arrows('infra/', 'functions/'), ...arrows('functions/', 'infra/'), ...arrows('config/', 'infra/')]).toEqual([]);
  });

  it('has config/ reach into functions/ only for the components\' descriptors', () => {
    const intoFunctions = arrows('config/', 'functions/').map((arrow) => arrow.split(' -> ')[1]);
    expect(intoFunctions.length).toBeGreaterThan(0);
    expect(intoFunctions.filter((target) => !DESCRIPTOR.test(target))).toEqual([]);
  });

  it('has every module a descriptor reaches pure: config/, the errors, and its own folder\'s option, name, grant and source-type modules', () => {
    const reached = new Set<string>();
    const visit = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const to of graph.get(file) ?? []) visit(to);
    };
    for (const file of graph.keys()) if (DESCRIPTOR.test(file)) visit(file);
    const allowed = (file: string) =>
      file.startsWith('config/') ||
      file === 'functions/core/errors.ts' ||
      /^functions\/components\/[^/]+\/(descriptor|options|names|tiers|glob|grants|source)\.ts$/.test(file);
    expect([...reached].filter((file) => !allowed(file)).sort()).toEqual([]);
  });
});

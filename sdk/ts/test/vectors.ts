// Loads the shared conformance vectors (spec/vectors/*.json, format in spec/vectors/README.md).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SUITES = ['channel_keys', 'cache_keys', 'events', 'plan', 'coalesce', 'version', 'scope', 'client'] as const;
export type SuiteName = (typeof SUITES)[number];
export const MIN_TOTAL_CASES = 50;

export interface VectorCase {
  suite: SuiteName;
  file: string;
  name: string;
  data: Record<string, any>;
  meta: Record<string, any>;
}

export const vectorsDir = (): string =>
  process.env.RTCACHE_VECTORS_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'spec', 'vectors');

export interface Corpus {
  cases: VectorCase[];
  problems: string[];
  perSuite: Map<string, number>;
}

export function loadCorpus(dir = vectorsDir()): Corpus {
  const out: Corpus = { cases: [], problems: [], perSuite: new Map() };
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch (e) {
    out.problems.push(`cannot list ${dir}: ${(e as Error).message}`);
  }
  const seen = new Set<string>();
  for (const file of files) {
    let root: any;
    try {
      root = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    } catch (e) {
      out.problems.push(`${file}: not valid JSON: ${(e as Error).message}`);
      continue;
    }
    if (typeof root?.suite !== 'string' || !Array.isArray(root.cases) || !('description' in root)) {
      out.problems.push(`${file}: needs {"suite": string, "description": ..., "cases": [...]}`);
      continue;
    }
    if (!(SUITES as readonly string[]).includes(root.suite)) {
      out.problems.push(`${file}: unknown suite "${root.suite}"`);
      continue;
    }
    const { cases, ...meta } = root;
    for (const c of cases as any[]) {
      if (typeof c?.name !== 'string') {
        out.problems.push(`${file}: a case without a string "name"`);
        continue;
      }
      let name: string = c.name;
      if (!/^[a-z0-9_]+$/.test(name)) out.problems.push(`${file}: case name "${name}" is not [a-z0-9_]+`);
      if (seen.has(name)) {
        out.problems.push(`${file}: case name "${name}" is used twice`);
        name = `${name}_duplicate_${out.cases.length}`;
      }
      seen.add(name);
      out.cases.push({ suite: root.suite, file, name, data: c, meta });
      out.perSuite.set(root.suite, (out.perSuite.get(root.suite) ?? 0) + 1);
    }
  }
  return out;
}

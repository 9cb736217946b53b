// Patching a coalesced run of versions (src/coalescer.ts Batch.firstVersions, src/planner.ts isNextVersion):
// a merged event patches only when the versions merged into it are contiguous and start just after the
// cached version; anything else invalidates (docs/architecture.md, "Planning").
import { describe, expect, test } from 'vitest';
import { CacheSnapshot, Coalescer, FactoryScope, planBatch, type RtEvent } from '../src/index.js';

const scope = FactoryScope.of(['f1']);
const upd = (version: number | undefined, qty: number): RtEvent => {
  const e: RtEvent = { type: 'wo', id: '1', factoryId: 'f1', action: 'update', changedKeys: ['qty'], patch: [{ column: 'qty', json: String(qty) }] };
  if (version !== undefined) e.version = version;
  return e;
};
function planRun(cachedVersion: number | undefined, versions: (number | undefined)[]): string[] {
  const co = new Coalescer();
  versions.forEach((v, i) => co.offer(upd(v, i), 0));
  const cache = new CacheSnapshot();
  cache.put('wo', '1', cachedVersion === undefined ? {} : { version: cachedVersion });
  return planBatch(co.flush(), scope, cache).map((op) => op.op + (op.op === 'patch' && op.version !== undefined ? `@${op.version}` : ''));
}

describe('a coalesced run of versions', () => {
  test('contiguous from the cached version + 1 patches once, to the highest version', () => {
    expect(planRun(2, [3, 4, 5])).toEqual(['patch@5']);
  });
  test('arrival order does not matter', () => {
    expect(planRun(2, [5, 3, 4])).toEqual(['patch@5']);
  });
  test('a run starting past the cached version + 1 invalidates', () => {
    expect(planRun(1, [3, 4, 5])).toEqual(['invalidate']);
  });
  test('a gap inside the run invalidates', () => {
    expect(planRun(2, [3, 5])).toEqual(['invalidate']);
  });
  test('a version delivered twice invalidates', () => {
    expect(planRun(2, [3, 3, 4])).toEqual(['invalidate']);
  });
  test('a versionless event in the run invalidates', () => {
    expect(planRun(2, [3, undefined, 4])).toEqual(['invalidate']);
  });
  test('a run of unversioned events patches, as without a version guard', () => {
    expect(planRun(undefined, [undefined, undefined])).toEqual(['patch']);
  });
  test('a run longer than the tracked bound (64 versions) invalidates', () => {
    expect(planRun(0, Array.from({ length: 64 }, (_, i) => i + 1))).toEqual(['patch@64']);
    expect(planRun(0, Array.from({ length: 65 }, (_, i) => i + 1))).toEqual(['invalidate']);
  });
  test('a single event of the batch is judged by its own version', () => {
    expect(planRun(2, [3])).toEqual(['patch@3']);
    expect(planRun(2, [4])).toEqual(['invalidate']);
  });
});

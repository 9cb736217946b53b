// The cluster phase (scripts/compat-cluster.sh): test/cluster/ only, against two `rtcache serve -c` nodes that share
// one NATS stream and one replication slot. The nodes and the database are shared by every file, and the last one
// kills a node with SIGKILL: files run one at a time, in name order.
import { defineConfig } from 'vitest/config';
import { BaseSequencer } from 'vitest/node';

class ByName extends BaseSequencer {
  async sort(files) {
    return [...files].sort((a, b) => (a.moduleId ?? a[1] ?? '').localeCompare(b.moduleId ?? b[1] ?? ''));
  }
}

export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.mjs'],
    fileParallelism: false,
    sequence: { sequencer: ByName },
    testTimeout: 60000,
    hookTimeout: 15000,
    retry: 0,
  },
});

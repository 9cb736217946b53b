// The cluster phase (scripts/compat-cluster.sh): test/cluster/ only, against two `rtcache serve -c` nodes that share
// one NATS stream. RTCACHE_CLUSTER_PASS picks the files: `pg` (the default; the nodes share one replication slot too)
// runs test/cluster/*.test.mjs, `relay` (no [postgres]: the lease holder writes the stream) runs what needs no
// database: test/cluster/30_relay and test/cluster/relay-only/. The nodes (and the database) are shared by every file
// of a pass, and its last one kills a node with SIGKILL: files run one at a time, in name order.
import { defineConfig } from 'vitest/config';
import { BaseSequencer } from 'vitest/node';

class ByName extends BaseSequencer {
  async sort(files) {
    return [...files].sort((a, b) => (a.moduleId ?? a[1] ?? '').localeCompare(b.moduleId ?? b[1] ?? ''));
  }
}

const include = {
  pg: ['test/cluster/*.test.mjs'],
  relay: ['test/cluster/30_relay.test.mjs', 'test/cluster/relay-only/*.test.mjs'],
}[process.env.RTCACHE_CLUSTER_PASS ?? 'pg'];
if (!include) throw new Error(`RTCACHE_CLUSTER_PASS=${process.env.RTCACHE_CLUSTER_PASS}: pg or relay`);

export default defineConfig({
  test: {
    include,
    fileParallelism: false,
    sequence: { sequencer: ByName },
    testTimeout: 60000,
    hookTimeout: 15000,
    retry: 0,
  },
});

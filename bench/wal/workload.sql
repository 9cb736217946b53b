-- The WAL benchmark's schema and workload (bench/wal/run.sh). Tables, REPLICA IDENTITY FULL and the publication
-- exist before the slots are created; the workload runs after, as a procedure that commits as it goes.
DROP PUBLICATION IF EXISTS bench_pub;
DROP TABLE IF EXISTS bench_wo, bench_pl, bench_counts;
CREATE TABLE bench_wo (
  id text PRIMARY KEY,
  factory_id text NOT NULL,
  version bigint NOT NULL,
  status text NOT NULL,
  qty integer NOT NULL,
  due_date date,
  notes text,
  internal_cost numeric(12, 2),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE bench_pl (
  id text PRIMARY KEY,
  factory_id text NOT NULL,
  version bigint NOT NULL,
  status text NOT NULL,
  lines integer NOT NULL,
  picker text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE bench_wo REPLICA IDENTITY FULL;
ALTER TABLE bench_pl REPLICA IDENTITY FULL;
CREATE PUBLICATION bench_pub FOR TABLE bench_wo, bench_pl;
-- Not published: what the workload did, for the driver.
CREATE TABLE bench_counts (row_changes bigint NOT NULL, transactions bigint NOT NULL);

-- n_wo / n_pl rows inserted, 50 of each table a transaction; small_tx transactions of 10 updates (status,
-- qty or lines, version: a user edit), two of three on bench_wo; bulk_tx transactions of 1,000 updates (status,
-- version: a bulk status change); move_tx transactions of 10 rows moving factory; delete_tx transactions of 100
-- deletes, alternating tables, from the highest ids down.
-- REQUIRES: bulk_tx * 1000 <= n_wo, delete_tx * 50 <= n_pl, move_tx * 10 <= n_wo.
CREATE PROCEDURE bench_workload(n_wo int, n_pl int, factories int, small_tx int, bulk_tx int, move_tx int,
                                delete_tx int)
LANGUAGE plpgsql AS $$
DECLARE
  statuses text[] := ARRAY['open', 'in_progress', 'approved', 'rejected', 'on_hold'];
  changed bigint := 0;
  txs bigint := 0;
  n bigint;
  base int;
  hi int;
BEGIN
  FOR i IN 1..greatest(n_wo, n_pl) BY 50 LOOP
    IF i <= n_wo THEN
      INSERT INTO bench_wo (id, factory_id, version, status, qty, due_date, notes, internal_cost)
      SELECT g::text, 'f' || (g % factories + 1), 1, 'open', g % 97, date '2026-01-01' + (g % 300),
             'work order ' || g || ' for line ' || (g % 13) || ': assemble, inspect, pack', (g % 1000) * 1.25
      FROM generate_series(i, least(i + 49, n_wo)) g;
      GET DIAGNOSTICS n = ROW_COUNT; changed := changed + n;
    END IF;
    IF i <= n_pl THEN
      INSERT INTO bench_pl (id, factory_id, version, status, lines, picker)
      SELECT g::text, 'f' || (g % factories + 1), 1, 'open', g % 40 + 1, 'picker-' || (g % 25)
      FROM generate_series(i, least(i + 49, n_pl)) g;
      GET DIAGNOSTICS n = ROW_COUNT; changed := changed + n;
    END IF;
    COMMIT;
    txs := txs + 1;
  END LOOP;

  FOR k IN 0..small_tx - 1 LOOP
    IF k % 3 <> 2 THEN
      base := (k * 10) % (n_wo - 10) + 1;
      UPDATE bench_wo SET status = statuses[k % 5 + 1], qty = qty + 1, version = version + 1
      WHERE id IN (SELECT g::text FROM generate_series(base, base + 9) g);
    ELSE
      base := (k * 10) % (n_pl - 10) + 1;
      UPDATE bench_pl SET status = statuses[k % 5 + 1], lines = lines + 1, version = version + 1
      WHERE id IN (SELECT g::text FROM generate_series(base, base + 9) g);
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT; changed := changed + n;
    COMMIT;
    txs := txs + 1;
  END LOOP;

  FOR b IN 0..bulk_tx - 1 LOOP
    UPDATE bench_wo SET status = statuses[b % 5 + 1], version = version + 1
    WHERE id IN (SELECT g::text FROM generate_series(b * 1000 + 1, b * 1000 + 1000) g);
    GET DIAGNOSTICS n = ROW_COUNT; changed := changed + n;
    COMMIT;
    txs := txs + 1;
  END LOOP;

  FOR m IN 0..move_tx - 1 LOOP
    UPDATE bench_wo SET factory_id = 'f' || ((m + 1) % factories + 1), version = version + 1
    WHERE id IN (SELECT g::text FROM generate_series(m * 10 + 1, m * 10 + 10) g);
    GET DIAGNOSTICS n = ROW_COUNT; changed := changed + n;
    COMMIT;
    txs := txs + 1;
  END LOOP;

  FOR d IN 0..delete_tx - 1 LOOP
    IF d % 2 = 0 THEN
      hi := n_wo - (d / 2) * 100;
      DELETE FROM bench_wo WHERE id IN (SELECT g::text FROM generate_series(hi - 99, hi) g);
    ELSE
      hi := n_pl - (d / 2) * 100;
      DELETE FROM bench_pl WHERE id IN (SELECT g::text FROM generate_series(hi - 99, hi) g);
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT; changed := changed + n;
    COMMIT;
    txs := txs + 1;
  END LOOP;

  INSERT INTO bench_counts VALUES (changed, txs);
END
$$;

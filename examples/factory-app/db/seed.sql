-- Seed data for the demo: three factories, 60 documents of each type per factory. Deterministic (setseed),
-- loaded once by scripts/demo.sh and scripts/e2e.sh right after schema.sql.
SELECT setseed(0.42);
INSERT INTO factories (id, name) VALUES ('f1', 'Lyon assembly'), ('f2', 'Porto textiles'), ('f3', 'Gdansk metal')
ON CONFLICT (id) DO NOTHING;

INSERT INTO work_orders (factory_id, status, number, product, quantity, priority, due_date, internal_notes)
SELECT f, (ARRAY['open','in_progress','submitted','approved','done'])[1 + (n % 5)],
       format('WO-%s-%s', upper(f), lpad(n::text, 4, '0')),
       (ARRAY['Gearbox G7','Axle A2','Housing H9','Bracket B4','Shaft S1'])[1 + (n % 5)],
       10 + (random() * 490)::int, 1 + (n % 5), date '2026-12-01' + n, 'margin note ' || n
FROM unnest(ARRAY['f1','f2','f3']) f, generate_series(1, 60) n;

INSERT INTO packing_lists (factory_id, status, number, customer, cartons, weight_kg)
SELECT f, (ARRAY['draft','packed','submitted','approved'])[1 + (n % 4)], format('PL-%s-%s', upper(f), lpad(n::text, 4, '0')),
       (ARRAY['Acme GmbH','Nordwind AB','Sol SA','Blue Ltd'])[1 + (n % 4)], 1 + (random() * 40)::int,
       round((random() * 900)::numeric, 2)
FROM unnest(ARRAY['f1','f2','f3']) f, generate_series(1, 60) n;

INSERT INTO delivery_notes (factory_id, status, number, carrier, destination, ship_date)
SELECT f, (ARRAY['draft','submitted','approved','shipped'])[1 + (n % 4)], format('DN-%s-%s', upper(f), lpad(n::text, 4, '0')),
       (ARRAY['DHL','Geodis','Raben','DSV'])[1 + (n % 4)], (ARRAY['Hamburg','Milano','Madrid','Lille'])[1 + (n % 4)],
       date '2026-11-01' + n
FROM unnest(ARRAY['f1','f2','f3']) f, generate_series(1, 60) n;

INSERT INTO goods_received_notes (factory_id, status, number, supplier, received_qty, inspected)
SELECT f, (ARRAY['received','submitted','approved','rejected'])[1 + (n % 4)], format('GRN-%s-%s', upper(f), lpad(n::text, 4, '0')),
       (ARRAY['SteelCo','PolyChem','BoltWorks','CableNet'])[1 + (n % 4)], (random() * 1000)::int, n % 2 = 0
FROM unnest(ARRAY['f1','f2','f3']) f, generate_series(1, 60) n;

INSERT INTO lots (factory_id, status, code, product, quantity, expiry_date)
SELECT f, (ARRAY['quarantine','submitted','approved','rejected'])[1 + (n % 4)], format('LOT-%s-%s', upper(f), lpad(n::text, 5, '0')),
       (ARRAY['Resin R1','Steel S235','Copper C11','Paint P9'])[1 + (n % 4)], (random() * 5000)::int,
       date '2027-06-01' + n
FROM unnest(ARRAY['f1','f2','f3']) f, generate_series(1, 60) n;

INSERT INTO purchases (factory_id, status, number, supplier, amount, currency)
SELECT f, (ARRAY['draft','submitted','approved','rejected'])[1 + (n % 4)], format('PU-%s-%s', upper(f), lpad(n::text, 4, '0')),
       (ARRAY['SteelCo','PolyChem','BoltWorks','CableNet'])[1 + (n % 4)], round((random() * 50000)::numeric, 2), 'EUR'
FROM unnest(ARRAY['f1','f2','f3']) f, generate_series(1, 60) n;

INSERT INTO invoices (factory_id, status, number, customer, amount, currency, due_date, bank_account)
SELECT f, (ARRAY['draft','submitted','approved','paid','void'])[1 + (n % 5)], format('INV-%s-%s', upper(f), lpad(n::text, 4, '0')),
       (ARRAY['Acme GmbH','Nordwind AB','Sol SA','Blue Ltd'])[1 + (n % 4)], round((random() * 90000)::numeric, 2), 'EUR',
       date '2026-12-15' + n, 'FR76 3000 6000 0112 3456 7890 ' || lpad(n::text, 3, '0')
FROM unnest(ARRAY['f1','f2','f3']) f, generate_series(1, 60) n;

INSERT INTO price_lists (factory_id, status, name, currency, valid_from, item_count)
SELECT f, (ARRAY['draft','submitted','approved','rejected'])[1 + (n % 4)], format('%s price list %s', upper(f), n), 'EUR',
       date '2026-01-01' + n * 7, (random() * 400)::int
FROM unnest(ARRAY['f1','f2','f3']) f, generate_series(1, 60) n;

// duckdb_top_functions.mjs - DuckDB's side of the engine comparison: top functions, self and
// total, over samples.csv (stack,count) and frames.csv (stack,depth,function) exported by
// engine_bench. One thread, data in memory; median of 5 of the query below. A function counts
// once per stack toward total (as in top_functions.lua).
//   node duckdb_top_functions.mjs DIR
import { DuckDBInstance } from '@duckdb/node-api';

const dir = process.argv[2];
const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
const con = await instance.connect();
await con.run(`CREATE TABLE samples AS SELECT * FROM read_csv('${dir}/samples.csv', header = true,
  columns = {'stack': 'UINTEGER', 'count': 'BIGINT'})`);
await con.run(`CREATE TABLE frames AS SELECT * FROM read_csv('${dir}/frames.csv', header = true,
  columns = {'stack': 'UINTEGER', 'depth': 'INTEGER', 'function': 'VARCHAR'})`);
const q = `
WITH per_stack AS (SELECT stack, sum(count) AS n FROM samples GROUP BY stack),
     total_all AS (SELECT sum(n) AS all_n FROM per_stack),
     self AS (SELECT f.function, sum(p.n) AS self_samples FROM per_stack p JOIN frames f
              ON f.stack = p.stack AND f.depth = 0 GROUP BY f.function),
     total AS (SELECT d.function, sum(p.n) AS total_samples FROM per_stack p JOIN
               (SELECT DISTINCT stack, function FROM frames) d ON d.stack = p.stack GROUP BY d.function)
SELECT t.function, coalesce(s.self_samples, 0) AS self_samples,
       coalesce(s.self_samples, 0) * 100.0 / a.all_n AS self_percent,
       t.total_samples, t.total_samples * 100.0 / a.all_n AS total_percent
FROM total t LEFT JOIN self s USING (function), total_all a
ORDER BY self_samples DESC, total_samples DESC, t.function`;
const times = [];
let rows = 0;
for (let i = 0; i < 5; i++) {
  const t0 = process.hrtime.bigint();
  const r = await con.runAndReadAll(q);
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  rows = r.getRows().length;
}
times.sort((a, b) => a - b);
const n = (await con.runAndReadAll('SELECT count(*) FROM samples')).getRows()[0][0];
console.log(`duckdb_rows ${n} rows`);
console.log(`duckdb_top_functions_rows ${rows} rows`);
console.log(`duckdb_top_functions_ms ${times[2].toFixed(1)} ms`);

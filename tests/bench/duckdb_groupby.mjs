// duckdb_groupby.mjs - the DuckDB side of the ring and engine comparisons: loads rows exported by
// the Wisp benchmarks (CSV: stack,count,tid,cpu,sec) into an in-memory DuckDB with one thread,
// then times `SELECT stack, sum(count) ... GROUP BY stack` (median of 5, data already in memory).
// Prints `duckdb_groupby_ms VALUE ms` and `duckdb_rows VALUE rows`.
//   node duckdb_groupby.mjs FILE.csv
import { DuckDBInstance } from '@duckdb/node-api';

const file = process.argv[2];
if (!file) {
  console.error('usage: node duckdb_groupby.mjs FILE.csv');
  process.exit(2);
}
const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
const con = await instance.connect();
await con.run(`CREATE TABLE t AS SELECT * FROM read_csv('${file.replace(/'/g, "''")}', header = true,
  columns = {'stack': 'UINTEGER', 'count': 'BIGINT', 'tid': 'BIGINT', 'cpu': 'INTEGER', 'sec': 'BIGINT'})`);
const rows = (await con.runAndReadAll('SELECT count(*) FROM t')).getRows()[0][0];
const times = [];
let groups = 0;
for (let i = 0; i < 5; i++) {
  const t0 = process.hrtime.bigint();
  const r = await con.runAndReadAll('SELECT stack, sum(count) AS samples FROM t GROUP BY stack');
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  groups = r.getRows().length;
}
times.sort((a, b) => a - b);
console.log(`duckdb_rows ${rows} rows`);
console.log(`duckdb_groups ${groups} stacks`);
console.log(`duckdb_groupby_ms ${times[2].toFixed(1)} ms`);

// jit.js - a JIT-compiled hot path for the perf-map test: node --perf-basic-prof jit.js SECONDS
// prints its pid, then spends its time in hotLoop (called from outerLoop) until SECONDS pass.
'use strict';
function hotLoop(n) {
  let x = 1;
  for (let i = 0; i < n; i++) x = (x * 1103515245 + 12345) % 2147483648;
  return x;
}
function outerLoop(seconds) {
  const end = Date.now() + seconds * 1000;
  let s = 0;
  while (Date.now() < end) s ^= hotLoop(100000);
  return s;
}
console.log(process.pid);
outerLoop(Number(process.argv[2] || 10));

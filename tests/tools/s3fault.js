// s3fault.js - a fault-injecting HTTP proxy in front of an S3-protocol server, for tests:
//   node s3fault.js LISTEN_PORT UPSTREAM_PORT MATCH COUNT
// forwards every request to 127.0.0.1:UPSTREAM_PORT unchanged, except that the first COUNT
// requests whose method and URL ("PUT /bucket/key?partNumber=2&...") contain MATCH are answered
// "500 InternalError" after their body has been read. Prints "injected N" on stdout as it does.
'use strict';
const http = require('http');
const [listen, upstream, match, count] = process.argv.slice(2);
let left = Number(count);
let injected = 0;
http.createServer((req, res) => {
  if (left > 0 && `${req.method} ${req.url}`.includes(match)) {
    left--;
    req.resume();
    req.on('end', () => {
      injected++;
      console.log(`injected ${injected}: ${req.method} ${req.url}`);
      res.writeHead(500, {'Content-Type': 'application/xml'});
      res.end('<?xml version="1.0"?><Error><Code>InternalError</Code><Message>injected by s3fault.js</Message></Error>');
    });
    return;
  }
  const up = http.request({host: '127.0.0.1', port: Number(upstream), method: req.method, path: req.url,
                           headers: req.headers}, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => { res.writeHead(502); res.end(); });
  req.pipe(up);
}).listen(Number(listen), '127.0.0.1');

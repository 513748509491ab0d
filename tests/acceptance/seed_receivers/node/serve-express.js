// Serves seed 002's printed Express receiver, unchanged, on a loopback port, for
// tests/acceptance/test_seed_receivers.py.
//
//   node serve-express.js SNIPPET_FILE PORT CALLS_FILE
//
// SNIPPET_FILE holds the printed snippet byte for byte (the test cuts it out of the seed and
// writes it there). It reads its secret from ISIKUOTA_SECRET_KEY, as printed, and resolves
// require('express') through NODE_PATH (this folder's node_modules), both set by the test.
//
// Why a wrapper, and this one: the printed text creates `const app = express()` but neither
// listens nor exports it, so something must reach that app without editing or appending to
// the text. The wrapper puts a recording `express` in Node's module cache (the real function,
// plus a note of each app it creates, with all of express's properties: express.raw and so
// on), then runs the snippet file as an ordinary CommonJS module: its require('express') gets
// the recording one and its code runs as printed. The wrapper then listens on the app that
// the snippet made.
//
// The snippet calls one name it does not define, updateOrder(refId, status, sn). It is a
// global here that appends its arguments as one JSON line to CALLS_FILE.
'use strict';

const fs = require('fs');
const path = require('path');

const [snippetFile, port, callsFile] = process.argv.slice(2);
if (!snippetFile || !port || !callsFile) {
  console.error('usage: node serve-express.js SNIPPET_FILE PORT CALLS_FILE');
  process.exit(2);
}

const expressPath = require.resolve('express');
const realExpress = require(expressPath);
const apps = [];
function recordingExpress(...args) {
  const app = realExpress(...args);
  apps.push(app);
  return app;
}
Object.assign(recordingExpress, realExpress);
require.cache[expressPath].exports = recordingExpress;

globalThis.updateOrder = async (...args) => {
  fs.appendFileSync(callsFile, JSON.stringify(args) + '\n');
};

require(path.resolve(snippetFile));

if (apps.length !== 1) {
  console.error(`the snippet created ${apps.length} express apps; expected exactly one`);
  process.exit(1);
}
apps[0].listen(Number(port), '127.0.0.1', () => {
  console.log(`seed 002 Express receiver listening on 127.0.0.1:${port}`);
});

// Troupe's nodejs runtime variant "nodejs-ric": AWS Lambda's own Runtime
// Interface Client for Node.js (npm aws-lambda-ric, pinned by the
// package-lock.json beside this file and installed into node_modules here by
// deploy/install-deps.sh), run unmodified.
//
// Pre-started in a template (runtime/sandbox_wire.hpp): it evaluates the RIC's
// JavaScript (about 11 ms of a cold start saved), writes "R" on fd 3 and waits
// there for its claim, the function's environment. Then it does what Lambda's
// Node.js image does: run(LAMBDA_TASK_ROOT, _HANDLER). The RIC's native client
// (aws-lambda-cpp over curl) reads AWS_LAMBDA_RUNTIME_API when it is loaded,
// so it is loaded only then, by run().
import fs from 'node:fs';
import http from 'node:http';
import Module from 'node:module';

const RIC = new URL('./node_modules/aws-lambda-ric/dist/index.mjs', import.meta.url).href;
const CLAIM_FD = 3;
/** Variables the RIC reads when its module is evaluated rather than when it runs. */
const READ_AT_IMPORT = ['AWS_LAMBDA_RUNTIME_VERBOSE', 'AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA'];

/**
 * Waits for the claim on fd 3 and makes its environment ours, touching only
 * what differs (as runtimes/nodejs/bootstrap.js does, which explains why).
 * Returns the claim's variables.
 */
function takeClaim() {
  try {
    fs.writeSync(CLAIM_FD, 'R');
  } catch (e) {
    return new Map(Object.entries(process.env)); // started by hand
  }
  const chunks = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n;
    try {
      n = fs.readSync(CLAIM_FD, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN' || e.code === 'EINTR') continue;
      throw e;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  fs.closeSync(CLAIM_FD);
  const parts = Buffer.concat(chunks).toString('utf8').split('\0');
  const env = parts.indexOf('') >= 0 ? parts.slice(parts.indexOf('') + 1) : [];
  const wanted = new Map();
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq > 0) wanted.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  for (const key of Object.keys(process.env)) if (!wanted.has(key)) delete process.env[key];
  for (const [key, value] of wanted) if (process.env[key] !== value) process.env[key] = value;
  process.chdir(process.env.LAMBDA_TASK_ROOT || '/var/task');
  return wanted;
}

/** Reports why the RIC cannot run, as Lambda's runtimes report an init failure. */
function postInitError(type, message) {
  const [host, port] = (process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001').split(':');
  const body = JSON.stringify({ errorType: type, errorMessage: message, trace: [] });
  return new Promise((resolve) => {
    const req = http.request(
      {
        host,
        port,
        method: 'POST',
        path: '/2018-06-01/runtime/init/error',
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          'Lambda-Runtime-Function-Error-Type': type,
        },
      },
      (res) => res.resume().on('end', resolve),
    );
    req.on('error', resolve);
    req.end(body);
  });
}

let ric;
let importError;
try {
  ric = await import(RIC);
} catch (e) {
  importError = e;
}
const claimed = takeClaim();
Module._initPaths(); // the claim's NODE_PATH, for the handler's require()
try {
  if (ric && READ_AT_IMPORT.some((key) => claimed.has(key)))
    ric = await import(RIC + '?claimed'); // a fresh copy that sees them
} catch (e) {
  importError = e;
  ric = undefined;
}
if (!ric) {
  await postInitError(
    'Runtime.ImportModuleError',
    `aws-lambda-ric cannot be loaded on this host (deploy/install-deps.sh installs it): ${
      importError && importError.message
    }`,
  );
  process.exit(1);
}
await ric.run(process.env.LAMBDA_TASK_ROOT || '/var/task', process.env._HANDLER || '');

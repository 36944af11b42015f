// Troupe's Node.js runtime: the Lambda Runtime API loop, standard library only.
//
// Pre-started in a template (runtime/sandbox_wire.hpp): once its modules are
// loaded it writes "R" on fd 3 and waits there for its claim, the function's
// environment; until then no function's code is mounted. Then it loads
// `file.function` from $_HANDLER out of $LAMBDA_TASK_ROOT (CommonJS or an ES
// module) and asks the Runtime API for events forever, answering each with the
// handler's result (async, or through the callback of a three-argument
// handler) or an error document shaped as Lambda's ({errorType, errorMessage, trace}).
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const { pathToFileURL } = require('url');

const BASE = '/2018-06-01/runtime';
const CLAIM_FD = 3;

/** Waits for the claim on fd 3 and makes its environment ours (see bootstrap.py). */
function takeClaim() {
  try {
    fs.writeSync(CLAIM_FD, 'R');
  } catch (e) {
    return; // started by hand: the environment is used as it is
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
  // Only what differs is touched: Node.js reloads its time zone data (about
  // 30 ms) whenever TZ is assigned, even to the value it already has.
  const wanted = new Map();
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq > 0) wanted.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  for (const key of Object.keys(process.env))
    if (!wanted.has(key)) delete process.env[key];
  for (const [key, value] of wanted)
    if (process.env[key] !== value) process.env[key] = value;
  process.chdir(process.env.LAMBDA_TASK_ROOT || '/var/task');
  require('module')._initPaths(); // the claim's NODE_PATH, for the handler's require()
}

let agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** One call to the Runtime API: resolves {status, headers, body}. */
function call(method, route, body, headers) {
  const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, method, path: BASE + route, agent, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
    req.on('error', reject);
    req.end(body);
  });
}

function postJson(route, doc, errorType) {
  const body = Buffer.from(JSON.stringify(doc === undefined ? null : doc));
  const headers = { 'Content-Type': 'application/json', 'Content-Length': body.length };
  if (errorType) headers['Lambda-Runtime-Function-Error-Type'] = errorType;
  return call('POST', route, body, headers);
}

function errorDocument(err, type) {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: type || e.name || 'Error',
    errorMessage: e.message,
    trace: String(e.stack || '').split('\n'),
  };
}

class RuntimeError extends Error {
  constructor(type, message) {
    super(message);
    this.name = type;
  }
}

async function loadHandler() {
  const name = process.env._HANDLER || '';
  const dot = name.lastIndexOf('.');
  if (dot <= 0)
    throw new RuntimeError('Runtime.MalformedHandlerName',
                           `Bad handler '${name}': expected file.function`);
  const root = process.env.LAMBDA_TASK_ROOT || '/var/task';
  const file = path.resolve(root, name.slice(0, dot));
  const fn = name.slice(dot + 1);
  let mod;
  try {
    if (fs.existsSync(file + '.mjs')) {
      mod = await import(pathToFileURL(file + '.mjs').href);
    } else {
      try {
        mod = require(file);
      } catch (e) {
        if (e.code !== 'ERR_REQUIRE_ESM') throw e;
        mod = await import(pathToFileURL(require.resolve(file)).href);
      }
    }
  } catch (e) {
    const type = e.code === 'MODULE_NOT_FOUND' ? 'Runtime.ImportModuleError' : 'Runtime.UserCodeSyntaxError';
    throw new RuntimeError(type, `Unable to import module '${name}': ${e.message}`);
  }
  const handler = mod[fn] !== undefined ? mod[fn] : mod.default && mod.default[fn];
  if (typeof handler !== 'function')
    throw new RuntimeError('Runtime.HandlerNotFound', `${name} is undefined or not exported`);
  return handler;
}

/** A JSON header of /next (client context, Cognito identity), parsed; undefined if absent. */
function jsonHeader(headers, name) {
  const text = headers[name];
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    return undefined;
  }
}

function contextOf(headers) {
  const deadline = Number(headers['lambda-runtime-deadline-ms'] || 0);
  return {
    awsRequestId: headers['lambda-runtime-aws-request-id'] || '',
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'] || '',
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || '',
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION || '$LATEST',
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || '',
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME || '',
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME || '',
    clientContext: jsonHeader(headers, 'lambda-runtime-client-context'),
    identity: jsonHeader(headers, 'lambda-runtime-cognito-identity'),
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

/** Runs the handler, async or with a callback (three declared arguments). */
function invoke(handler, event, context) {
  if (handler.length >= 3) {
    return new Promise((resolve, reject) => {
      const done = (err, result) => (err ? reject(err) : resolve(result));
      try {
        const r = handler(event, context, done);
        if (r && typeof r.then === 'function') r.then(resolve, reject);
      } catch (e) {
        reject(e);
      }
    });
  }
  return Promise.resolve().then(() => handler(event, context));
}

/**
 * Runs the paths every invocation takes once before the claim: V8 compiles
 * functions lazily, and the first HTTP exchange of a fresh Node.js costs
 * several milliseconds that would otherwise land on the cold start. A server
 * on an ephemeral loopback port of the sandbox's own network stands in for
 * the Runtime API; it is closed again before "R".
 */
function warmUp() {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      req.on('data', () => {});
      req.on('end', () => res.end(JSON.stringify({ warm: true })));
    });
    server.on('error', () => resolve());
    server.listen(0, '127.0.0.1', async () => {
      const port = server.address().port;
      process.env.AWS_LAMBDA_RUNTIME_API = `127.0.0.1:${port}`;
      try {
        for (let i = 0; i < 2; ++i) {
          const r = await call('GET', '/invocation/next');
          JSON.parse(r.body.toString('utf8'));
          await postJson('/invocation/warm/response', { warm: [1, 'a', null] });
        }
      } catch (e) {
        // warming is best effort
      }
      agent.destroy();
      agent = new http.Agent({ keepAlive: true, maxSockets: 1 }); // no socket of the warm-up kept
      delete process.env.AWS_LAMBDA_RUNTIME_API;
      server.close(() => resolve());
    });
  });
}

async function main() {
  await warmUp();
  takeClaim();
  let handler;
  try {
    handler = await loadHandler();
  } catch (e) {
    await postJson('/init/error', errorDocument(e, e.name), e.name);
    process.exit(1);
  }
  for (;;) {
    const next = await call('GET', '/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const trace = next.headers['lambda-runtime-trace-id'];
    if (trace) process.env._X_AMZN_TRACE_ID = trace;
    else delete process.env._X_AMZN_TRACE_ID;
    try {
      const event = next.body.length ? JSON.parse(next.body.toString('utf8')) : null;
      const result = await invoke(handler, event, contextOf(next.headers));
      await postJson(`/invocation/${id}/response`, result);
    } catch (e) {
      await postJson(`/invocation/${id}/error`, errorDocument(e), 'Unhandled');
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

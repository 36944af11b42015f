// Shared helpers for the SDK suite: the node under test (from run.sh's
// environment), SDK clients per tenant, bounded calls, function fixtures and
// assertions on Lambda's error shapes.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionCommand,
  LambdaClient,
  ListFunctionsCommand,
} from '@aws-sdk/client-lambda';

import { makeZip } from './zip.mjs';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through tests/js/run.sh`);
  return value;
}

export const endpoint = required('TROUPE_ENDPOINT');
export const region = required('TROUPE_REGION');
export const examplesDir = required('TROUPE_EXAMPLES_DIR');

export const tenants = {
  alpha: {
    accessKeyId: required('TROUPE_ALPHA_KEY_ID'),
    secretAccessKey: required('TROUPE_ALPHA_SECRET'),
  },
  beta: {
    accessKeyId: required('TROUPE_BETA_KEY_ID'),
    secretAccessKey: required('TROUPE_BETA_SECRET'),
  },
};

/** Per-call bound: every SDK call in the suite ends by then. */
export const CALL_MS = 30_000;
/** node:test per-test bound. */
export const TEST_MS = 60_000;

/** A Lambda client for `credentials` (alpha's by default): no retries, bounded sockets. */
export function lambdaClient(credentials = tenants.alpha) {
  return new LambdaClient({
    endpoint,
    region,
    credentials,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: CALL_MS },
  });
}

/** client.send with an abort deadline. */
export function send(client, command, ms = CALL_MS) {
  return client.send(command, { abortSignal: AbortSignal.timeout(ms) });
}

/** A function name no other test (or earlier run) uses. */
export function uniqueName(prefix) {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function exampleZip(name) {
  return readFileSync(path.join(examplesDir, `${name}.zip`));
}

export function sha256Base64(bytes) {
  return createHash('sha256').update(bytes).digest('base64');
}

/** A python3 package of one module, handler.py. */
export function pythonZip(source) {
  return makeZip([{ name: 'handler.py', content: source }]);
}

/** A nodejs package of one module, index.js. */
export function nodeZip(source) {
  return makeZip([{ name: 'index.js', content: source }]);
}

/** Returns its event and the context and environment it ran with. */
export const PY_CONTEXT = `
import os

def handler(event, context):
    return {
        "event": event,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "env": dict(os.environ),
    }
`;

/** Always raises. */
export const PY_RAISE = `
class TroupeTestError(Exception):
    pass

def handler(event, context):
    raise TroupeTestError("boom: " + str(event.get("why", "no reason")))
`;

/** Prints to stdout (JSON-looking and not) and still returns its own result. */
export const PY_PRINT = `
import sys

def handler(event, context):
    print('{"printed": "to stdout"}')
    print("plain text line", flush=True)
    sys.stdout.write("no newline")
    sys.stdout.flush()
    print("to stderr", file=sys.stderr)
    return {"returned": event}
`;

export const runtimes = {
  python: { Runtime: 'python3.11', Handler: 'handler.handler' },
  node: { Runtime: 'nodejs20.x', Handler: 'index.handler' },
  provided: { Runtime: 'provided', Handler: 'bootstrap' },
};

/**
 * Keeps track of what a test file creates, to delete it at the end even when
 * a test failed midway.
 */
export class Fixtures {
  constructor() {
    this.created = []; // [client, name]
  }

  /** CreateFunction with defaults (python context function), remembered for cleanup. */
  async create(client, params) {
    const input = {
      Role: 'arn:aws:iam::123456789012:role/troupe-test',
      MemorySize: 128,
      Timeout: 10,
      ...runtimes.python,
      ...params,
    };
    if (!input.Code) input.Code = { ZipFile: pythonZip(PY_CONTEXT) };
    const out = await send(client, new CreateFunctionCommand(input));
    this.created.push([client, input.FunctionName]);
    return out;
  }

  forget(name) {
    this.created = this.created.filter(([, n]) => n !== name);
  }

  async cleanup() {
    for (const [client, name] of this.created.reverse()) {
      try {
        await send(client, new DeleteFunctionCommand({ FunctionName: name }), 10_000);
      } catch (err) {
        if (err.name !== 'ResourceNotFoundException') console.error(`cleanup of ${name}: ${err}`);
      }
    }
    this.created = [];
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits (bounded) until the function is Active and its last update is done,
 * as Lambda clients must before invoking a created or updated function.
 */
export async function waitReady(client, name, ms = 20_000) {
  const until = Date.now() + ms;
  for (;;) {
    const { Configuration: c } = await send(client, new GetFunctionCommand({ FunctionName: name }));
    if (c.State === 'Failed' || c.LastUpdateStatus === 'Failed')
      assert.fail(`${name} failed: ${c.StateReason ?? c.LastUpdateStatusReason}`);
    if (c.State === 'Active' && (c.LastUpdateStatus ?? 'Successful') === 'Successful') return c;
    if (Date.now() > until) assert.fail(`${name} not ready after ${ms} ms: ${c.State}/${c.LastUpdateStatus}`);
    await sleep(200);
  }
}

/** Every function `client` can list, following NextMarker (bounded). */
export async function listAll(client) {
  const all = [];
  let marker;
  for (let pages = 0; pages < 100; pages++) {
    const out = await send(client, new ListFunctionsCommand({ Marker: marker }));
    assert.ok(Array.isArray(out.Functions), 'Functions is a list');
    all.push(...out.Functions);
    marker = out.NextMarker;
    if (!marker) return all;
  }
  assert.fail('ListFunctions paging does not end');
}

/** The invocation's payload, parsed as JSON. */
export function payloadJson(out) {
  assert.ok(out.Payload instanceof Uint8Array, 'Payload is bytes');
  return JSON.parse(Buffer.from(out.Payload).toString('utf8'));
}

export function jsonBytes(value) {
  return Buffer.from(JSON.stringify(value));
}

/**
 * Asserts that `promise` rejects with the modeled Lambda exception `name` and
 * HTTP `status`, and returns the error for further checks.
 */
export async function rejectsWith(promise, name, status) {
  let error;
  try {
    const out = await promise;
    assert.fail(`expected ${name} (${status}), but the call succeeded (${out?.$metadata?.httpStatusCode})`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    error = err;
  }
  const got = `${error.name} (${error.$metadata?.httpStatusCode}): ${error.message}`;
  assert.equal(error.name, name, `expected ${name} (${status}), got ${got}`);
  assert.equal(error.$metadata?.httpStatusCode, status, `expected ${name} (${status}), got ${got}`);
  assert.equal(typeof error.message, 'string');
  return error;
}

/**
 * Asserts a ResourceNotFoundException (404) about the function, not about the
 * route: a node without the operation answers 404 "unknown route" too, which
 * must not pass for "no such function".
 */
export async function rejectsNotFound(promise) {
  const err = await rejectsWith(promise, 'ResourceNotFoundException', 404);
  assert.doesNotMatch(err.message, /unknown route/i, 'the operation itself is missing on this node');
  return err;
}

/** Lambda's function ARN shape in this node's region. */
export function functionArnPattern(name) {
  return new RegExp(`^arn:aws:lambda:${region}:\\d{12}:function:${name}$`);
}

/**
 * Asserts the shape of a FunctionConfiguration Lambda returns. ListFunctions
 * (`listed`) may leave out State and LastUpdateStatus, as Lambda's does.
 */
export function assertFunctionConfiguration(cfg, expected, { listed = false } = {}) {
  assert.equal(cfg.FunctionName, expected.FunctionName);
  assert.match(cfg.FunctionArn, functionArnPattern(expected.FunctionName));
  for (const key of ['Runtime', 'Handler', 'MemorySize', 'Timeout', 'Description'])
    if (key in expected) assert.equal(cfg[key], expected[key], key);
  if (expected.Code?.ZipFile) {
    assert.equal(cfg.CodeSize, expected.Code.ZipFile.length, 'CodeSize is the archive size');
    assert.equal(cfg.CodeSha256, sha256Base64(expected.Code.ZipFile), 'CodeSha256 is base64 SHA-256 of the archive');
  }
  assert.equal(typeof cfg.CodeSize, 'number');
  assert.match(cfg.CodeSha256, /^[A-Za-z0-9+/]{43}=$/);
  assert.equal(cfg.Version, '$LATEST');
  assert.equal(cfg.PackageType, 'Zip');
  if (!listed || cfg.State !== undefined) assert.match(cfg.State, /^(Pending|Active)$/);
  assert.match(cfg.LastModified, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{4}|Z)$/);
  assert.ok(!Number.isNaN(Date.parse(cfg.LastModified.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))), 'LastModified parses');
  assert.equal(typeof cfg.RevisionId, 'string');
  assert.ok(cfg.RevisionId.length > 0);
  assert.deepEqual(cfg.Architectures, ['x86_64']);
}

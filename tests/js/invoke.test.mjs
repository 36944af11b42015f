// Invoke through the SDK: RequestResponse round trips on every example
// runtime, the context a function gets, function errors, Event, DryRun,
// payload limits and missing functions.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { InvokeCommand } from '@aws-sdk/client-lambda';

import {
  Fixtures,
  PY_CONTEXT,
  PY_PRINT,
  PY_RAISE,
  TEST_MS,
  exampleZip,
  functionArnPattern,
  jsonBytes,
  lambdaClient,
  payloadJson,
  pythonZip,
  region,
  rejectsWith,
  runtimes,
  send,
  uniqueName,
  waitReady,
} from './lib/troupe.mjs';

const client = lambdaClient();
const fixtures = new Fixtures();
after(() => fixtures.cleanup());

const prefix = uniqueName('js-inv');
const fn = {
  shell: `${prefix}-shell`,
  cpp: `${prefix}-cpp`,
  python: `${prefix}-python`,
  node: `${prefix}-node`,
  context: `${prefix}-context`,
  raise: `${prefix}-raise`,
  print: `${prefix}-print`,
  slow: `${prefix}-slow`,
};

before(async () => {
  await fixtures.create(client, { FunctionName: fn.shell, ...runtimes.provided, Code: { ZipFile: exampleZip('shell-echo') } });
  await fixtures.create(client, {
    FunctionName: fn.cpp,
    Runtime: 'provided.al2023',
    Handler: 'bootstrap',
    Code: { ZipFile: exampleZip('cpp-echo') },
  });
  await fixtures.create(client, { FunctionName: fn.python, ...runtimes.python, Code: { ZipFile: exampleZip('python-echo') } });
  await fixtures.create(client, { FunctionName: fn.node, ...runtimes.node, Code: { ZipFile: exampleZip('node-echo') } });
  await fixtures.create(client, { FunctionName: fn.context, MemorySize: 256, Timeout: 20, Code: { ZipFile: pythonZip(PY_CONTEXT) } });
  await fixtures.create(client, { FunctionName: fn.raise, Code: { ZipFile: pythonZip(PY_RAISE) } });
  await fixtures.create(client, { FunctionName: fn.print, Code: { ZipFile: pythonZip(PY_PRINT) } });
  await fixtures.create(client, {
    FunctionName: fn.slow,
    Timeout: 1,
    Code: { ZipFile: pythonZip('import time\n\ndef handler(event, context):\n    time.sleep(event.get("sleep", 0))\n    return "awake"\n') },
  });
  for (const name of Object.values(fn)) await waitReady(client, name);
}, { timeout: TEST_MS });

function assertSuccess(out) {
  assert.equal(out.$metadata.httpStatusCode, 200);
  assert.equal(out.StatusCode, 200);
  assert.equal(out.ExecutedVersion, '$LATEST');
  assert.equal(out.FunctionError, undefined, `FunctionError: ${Buffer.from(out.Payload ?? []).toString()}`);
}

describe('Invoke RequestResponse', { timeout: TEST_MS }, () => {
  const event = { hello: 'world', n: 1, nested: { list: [1, 2.5, null, true], text: 'grüße, 世界 \u2028 "q"' } };

  for (const runtime of ['shell', 'cpp']) {
    test(`a custom runtime (${runtime}-echo) returns the payload byte for byte`, async () => {
      const payload = jsonBytes(event);
      const out = await send(client, new InvokeCommand({ FunctionName: fn[runtime], Payload: payload }));
      assertSuccess(out);
      assert.equal(Buffer.from(out.Payload).toString('utf8'), payload.toString('utf8'));
    });
  }

  test('python3.11 (python-echo) gets the event and the context', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.python, Payload: jsonBytes(event) }));
    assertSuccess(out);
    const body = payloadJson(out);
    assert.deepEqual(body.echo, event);
    assert.equal(body.function, fn.python);
    assert.equal(body.memory_mb, '128');
    assert.equal(body.request_id, out.$metadata.requestId, 'context.aws_request_id is the x-amzn-RequestId');
  });

  test('nodejs20.x (node-echo) gets the event and the context', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.node, Payload: jsonBytes(event) }));
    assertSuccess(out);
    const body = payloadJson(out);
    assert.deepEqual(body.echo, event);
    assert.equal(body.function, fn.node);
    assert.equal(body.memory_mb, '128');
    assert.equal(body.request_id, out.$metadata.requestId);
  });

  test('InvocationType RequestResponse, explicitly, and no payload (an empty event)', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.python, InvocationType: 'RequestResponse' }));
    assertSuccess(out);
    assert.deepEqual(payloadJson(out).echo, {});
  });

  test('the context and environment a python function runs with', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.context, Payload: jsonBytes({ k: 'v' }) }));
    assertSuccess(out);
    const body = payloadJson(out);
    assert.deepEqual(body.event, { k: 'v' });
    assert.equal(body.function_name, fn.context);
    assert.equal(body.function_version, '$LATEST');
    assert.equal(body.memory_limit_in_mb, '256');
    assert.match(body.aws_request_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(body.aws_request_id, out.$metadata.requestId);
    assert.match(body.invoked_function_arn, functionArnPattern(fn.context));
    assert.ok(body.remaining_ms > 10_000 && body.remaining_ms <= 20_000, `remaining ${body.remaining_ms} ms of 20 s`);
    const env = body.env;
    assert.equal(env.AWS_REGION, region);
    assert.equal(env.AWS_DEFAULT_REGION, region);
    assert.equal(env.AWS_LAMBDA_FUNCTION_NAME, fn.context);
    assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '256');
    assert.equal(env.AWS_LAMBDA_FUNCTION_VERSION, '$LATEST');
    assert.equal(env.AWS_EXECUTION_ENV, 'AWS_Lambda_python3.11');
    assert.equal(env._HANDLER, 'handler.handler');
    assert.equal(env.LAMBDA_TASK_ROOT, '/var/task');
    assert.match(env.AWS_LAMBDA_RUNTIME_API ?? '', /^[\w.-]+:\d+$/);
    assert.equal(env.AWS_LAMBDA_LOG_GROUP_NAME, `/aws/lambda/${fn.context}`);
    for (const secret of ['TROUPE_ALPHA_SECRET', 'TROUPE_BETA_SECRET', 'TROUPE_ENDPOINT'])
      assert.equal(env[secret], undefined, `the node's environment (${secret}) does not leak into functions`);
  });

  test('what a function prints to stdout and stderr stays out of its response', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.print, Payload: jsonBytes({ p: 1 }) }));
    assertSuccess(out);
    assert.deepEqual(payloadJson(out), { returned: { p: 1 } });
  });

  test("LogType Tail: LogResult is the invocation's log, START to REPORT", async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.print, LogType: 'Tail', Payload: jsonBytes({ p: 2 }) }));
    assertSuccess(out);
    const log = Buffer.from(out.LogResult, 'base64').toString();
    const id = out.$metadata.requestId;
    assert.ok(log.length <= 4096, `${log.length} bytes`);
    assert.match(log, new RegExp(`^START RequestId: ${id} Version: \\$LATEST\n`));
    for (const line of ['plain text line', 'to stderr', `END RequestId: ${id}`]) assert.ok(log.includes(line), `${line} in ${log}`);
    assert.match(log, new RegExp(`\nREPORT RequestId: ${id}\tDuration: [0-9.]+ ms\tBilled Duration: [0-9]+ ms\tMemory Size: 128 MB\tMax Memory Used: [0-9]+ MB\t`));
    const plain = await send(client, new InvokeCommand({ FunctionName: fn.print, Payload: jsonBytes({ p: 3 }) }));
    assert.equal(plain.LogResult, undefined, 'no LogType, no log');
  });

  test('invocations in a row reuse the function (and stay correct)', async () => {
    for (let i = 0; i < 5; i++) {
      const out = await send(client, new InvokeCommand({ FunctionName: fn.python, Payload: jsonBytes({ i }) }));
      assertSuccess(out);
      assert.deepEqual(payloadJson(out).echo, { i });
    }
  });
});

describe('Invoke: function errors', { timeout: TEST_MS }, () => {
  test('a python exception: 200, FunctionError Unhandled, Lambda error document', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.raise, Payload: jsonBytes({ why: 'testing' }) }));
    assert.equal(out.$metadata.httpStatusCode, 200);
    assert.equal(out.StatusCode, 200);
    assert.equal(out.FunctionError, 'Unhandled');
    assert.equal(out.ExecutedVersion, '$LATEST');
    const doc = payloadJson(out);
    assert.equal(doc.errorMessage, 'boom: testing');
    assert.equal(doc.errorType, 'TroupeTestError');
    assert.ok(Array.isArray(doc.stackTrace), 'stackTrace is a list');
  });

  test('a thrown node error: FunctionError Unhandled, errorType and errorMessage', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.node, Payload: jsonBytes({ fail: 'node says no' }) }));
    assert.equal(out.StatusCode, 200);
    assert.equal(out.FunctionError, 'Unhandled');
    const doc = payloadJson(out);
    assert.equal(doc.errorMessage, 'node says no');
    assert.equal(doc.errorType, 'Error');
  });

  test('over its Timeout: FunctionError Unhandled, Sandbox.Timedout, answered about then', async () => {
    const started = Date.now();
    const out = await send(client, new InvokeCommand({ FunctionName: fn.slow, Payload: jsonBytes({ sleep: 5 }) }));
    const took = Date.now() - started;
    assert.equal(out.StatusCode, 200);
    assert.equal(out.FunctionError, 'Unhandled');
    const doc = payloadJson(out);
    assert.equal(doc.errorType, 'Sandbox.Timedout');
    assert.match(doc.errorMessage, /Task timed out after 1\.00 seconds/);
    assert.ok(took >= 1_000 && took < 4_000, `answered after ${took} ms for a 1 s Timeout`);
    const ok = await send(client, new InvokeCommand({ FunctionName: fn.slow, Payload: jsonBytes({}) }));
    assertSuccess(ok);
    assert.equal(payloadJson(ok), 'awake');
  });

  test('a runtime that exits: FunctionError Unhandled, Runtime.ExitError, and the next invocation works', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.cpp, Payload: jsonBytes({ crash: true }) }));
    assert.equal(out.StatusCode, 200);
    assert.equal(out.FunctionError, 'Unhandled');
    const doc = payloadJson(out);
    assert.equal(doc.errorType, 'Runtime.ExitError');
    assert.equal(typeof doc.errorMessage, 'string');
    const ok = await send(client, new InvokeCommand({ FunctionName: fn.cpp, Payload: jsonBytes({ again: 1 }) }));
    assertSuccess(ok);
    assert.deepEqual(payloadJson(ok), { again: 1 });
  });

  test('the function still works after an error', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.python, Payload: jsonBytes({ fail: 'once' }) }));
    assert.equal(out.FunctionError, 'Unhandled');
    assert.equal(payloadJson(out).errorType, 'ValueError');
    const ok = await send(client, new InvokeCommand({ FunctionName: fn.python, Payload: jsonBytes({ fine: true }) }));
    assertSuccess(ok);
    assert.deepEqual(payloadJson(ok).echo, { fine: true });
  });
});

describe('Invoke: Event and DryRun', { timeout: TEST_MS }, () => {
  test('InvocationType Event: 202, no payload', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.python, InvocationType: 'Event', Payload: jsonBytes({ async: true }) }));
    assert.equal(out.$metadata.httpStatusCode, 202);
    assert.equal(out.StatusCode, 202);
    assert.equal(out.FunctionError, undefined);
    assert.equal(Buffer.from(out.Payload ?? []).length, 0);
    assert.equal(typeof out.$metadata.requestId, 'string');
  });

  test('InvocationType DryRun: 204', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.python, InvocationType: 'DryRun' }));
    assert.equal(out.$metadata.httpStatusCode, 204);
    assert.equal(out.StatusCode, 204);
  });
});

describe('Invoke: payload limits', { timeout: TEST_MS }, () => {
  // A JSON string event of exactly `bytes` bytes.
  const jsonOfSize = (bytes) => Buffer.from(`"${'x'.repeat(bytes - 2)}"`);

  test('RequestResponse over 6 MB: RequestEntityTooLargeException (413)', async () => {
    await rejectsWith(
      send(client, new InvokeCommand({ FunctionName: fn.python, Payload: jsonOfSize(6 * 1024 * 1024 + 1) })),
      'RequestEntityTooLargeException',
      413,
    );
  });

  // The limit, 256 KB (Lambda raised its own to 1 MB in 2025:
  // ingress.max-async-payload sets it).
  test('Event over 256 KB: RequestEntityTooLargeException (413)', async () => {
    await rejectsWith(
      send(client, new InvokeCommand({ FunctionName: fn.python, InvocationType: 'Event', Payload: jsonOfSize(256 * 1024 + 1) })),
      'RequestEntityTooLargeException',
      413,
    );
  });

  test('Event of exactly 256 KB: accepted (202)', async () => {
    const out = await send(client, new InvokeCommand({ FunctionName: fn.shell, InvocationType: 'Event', Payload: jsonOfSize(256 * 1024) }));
    assert.equal(out.StatusCode, 202);
  });

  test('RequestResponse of 1 MB round trips', async () => {
    const payload = jsonOfSize(1024 * 1024);
    const out = await send(client, new InvokeCommand({ FunctionName: fn.shell, Payload: payload }));
    assertSuccess(out);
    assert.equal(Buffer.from(out.Payload).length, payload.length);
    assert.ok(Buffer.from(out.Payload).equals(payload), 'the same bytes come back');
  });

  test('a payload that is not JSON: InvalidRequestContentException (400)', async () => {
    await rejectsWith(
      send(client, new InvokeCommand({ FunctionName: fn.python, Payload: Buffer.from('{not json') })),
      'InvalidRequestContentException',
      400,
    );
  });
});

describe('Invoke: a missing function', { timeout: TEST_MS }, () => {
  const missing = uniqueName('js-nosuch');
  for (const InvocationType of ['RequestResponse', 'Event', 'DryRun']) {
    test(`${InvocationType}: ResourceNotFoundException (404)`, async () => {
      await rejectsWith(
        send(client, new InvokeCommand({ FunctionName: missing, InvocationType, Payload: jsonBytes({}) })),
        'ResourceNotFoundException',
        404,
      );
    });
  }
});

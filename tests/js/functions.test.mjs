// The function lifecycle through the SDK: Create, Get, GetConfiguration, List
// (paged), UpdateFunctionCode, UpdateFunctionConfiguration, Delete.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import {
  DeleteFunctionCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  ListFunctionsCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';

import {
  Fixtures,
  PY_CONTEXT,
  TEST_MS,
  assertFunctionConfiguration,
  exampleZip,
  jsonBytes,
  lambdaClient,
  listAll,
  payloadJson,
  pythonZip,
  rejectsNotFound,
  rejectsWith,
  runtimes,
  send,
  uniqueName,
  waitReady,
} from './lib/troupe.mjs';

const client = lambdaClient();
const fixtures = new Fixtures();
after(() => fixtures.cleanup());

async function invokeJson(name, event) {
  const out = await send(client, new InvokeCommand({ FunctionName: name, Payload: jsonBytes(event) }));
  assert.equal(out.StatusCode, 200);
  assert.equal(out.FunctionError, undefined, `function error: ${Buffer.from(out.Payload ?? []).toString()}`);
  return payloadJson(out);
}

describe('CreateFunction, GetFunction, GetFunctionConfiguration', { timeout: TEST_MS }, () => {
  const name = uniqueName('js-create');
  const input = {
    FunctionName: name,
    ...runtimes.python,
    Code: { ZipFile: exampleZip('python-echo') },
    MemorySize: 256,
    Timeout: 15,
    Description: 'created by the SDK suite',
    Environment: { Variables: { GREETING: 'hello', EMPTY_OK: 'x' } },
  };

  test('CreateFunction returns 201 and the FunctionConfiguration', async () => {
    const out = await fixtures.create(client, input);
    assert.equal(out.$metadata.httpStatusCode, 201);
    assertFunctionConfiguration(out, input);
    assert.deepEqual(out.Environment?.Variables, input.Environment.Variables);
  });

  test('GetFunction returns Configuration and Code', async () => {
    const c = await waitReady(client, name);
    assertFunctionConfiguration(c, input);
    assert.equal(c.State, 'Active');
    const out = await send(client, new GetFunctionCommand({ FunctionName: name }));
    assert.equal(out.$metadata.httpStatusCode, 200);
    assert.equal(typeof out.Code, 'object', 'GetFunction has Code');
    assert.equal(typeof out.Code.RepositoryType, 'string');
    assert.equal(out.Concurrency, undefined, 'no reserved concurrency set');
    assert.deepEqual(out.Configuration.Environment?.Variables, input.Environment.Variables);
  });

  test('GetFunctionConfiguration returns the same configuration', async () => {
    const got = await send(client, new GetFunctionCommand({ FunctionName: name }));
    const out = await send(client, new GetFunctionConfigurationCommand({ FunctionName: name }));
    assert.equal(out.$metadata.httpStatusCode, 200);
    assertFunctionConfiguration(out, input);
    const { $metadata, ...cfg } = out;
    assert.deepEqual(cfg, got.Configuration);
  });

  test('GetFunction and GetFunctionConfiguration of a missing function: 404', async () => {
    const missing = uniqueName('js-missing');
    await rejectsNotFound(send(client, new GetFunctionCommand({ FunctionName: missing })));
    await rejectsNotFound(send(client, new GetFunctionConfigurationCommand({ FunctionName: missing })));
  });

  test('the example deployed runs', async () => {
    const out = await invokeJson(name, { hello: 'world' });
    assert.deepEqual(out.echo, { hello: 'world' });
    assert.equal(out.function, name);
    assert.equal(out.memory_mb, '256');
  });
});

describe('ListFunctions', { timeout: TEST_MS }, () => {
  const prefix = uniqueName('js-list');
  const names = Array.from({ length: 7 }, (_, i) => `${prefix}-${i}`);

  test('pages with MaxItems=2 and NextMarker, seeing every function exactly once', async () => {
    for (const FunctionName of names) await fixtures.create(client, { FunctionName });

    const seen = new Map(); // every function of every page: name -> times seen
    let marker;
    let pages = 0;
    do {
      const out = await send(client, new ListFunctionsCommand({ MaxItems: 2, Marker: marker }));
      assert.equal(out.$metadata.httpStatusCode, 200);
      assert.ok(Array.isArray(out.Functions), 'Functions is a list');
      assert.ok(out.Functions.length <= 2, `page ${pages} holds ${out.Functions.length} functions: MaxItems=2 is ignored`);
      for (const f of out.Functions) {
        assert.equal(typeof f.FunctionName, 'string');
        assert.equal(typeof f.FunctionArn, 'string');
        seen.set(f.FunctionName, (seen.get(f.FunctionName) ?? 0) + 1);
      }
      if (out.NextMarker !== undefined) {
        assert.equal(typeof out.NextMarker, 'string');
        assert.notEqual(out.NextMarker, marker, 'NextMarker moves on');
        assert.equal(out.Functions.length, 2, 'only the last page may be short');
      }
      marker = out.NextMarker;
      assert.ok(++pages <= 200, 'paging ends');
    } while (marker);

    for (const n of names) assert.equal(seen.get(n), 1, `${n} seen ${seen.get(n) ?? 0} times`);
    for (const [n, times] of seen) assert.equal(times, 1, `${n} seen ${times} times`);
    assert.ok(pages >= Math.ceil(names.length / 2), `${pages} pages for ${seen.size} functions`);
  });

  test('without MaxItems lists them all in FunctionConfiguration shape', async () => {
    const all = await listAll(client);
    for (const n of names) {
      const f = all.find((x) => x.FunctionName === n);
      assert.ok(f, `${n} listed`);
      assertFunctionConfiguration(f, { FunctionName: n, ...runtimes.python, MemorySize: 128, Timeout: 10 }, { listed: true });
    }
  });
});

describe('UpdateFunctionCode', { timeout: TEST_MS }, () => {
  const name = uniqueName('js-code');
  const v1 = pythonZip(`def handler(event, context):\n    return {"version": 1, "event": event}\n`);
  const v2 = pythonZip(`def handler(event, context):\n    return {"version": 2, "event": event}\n`);

  test('a new zip changes CodeSha256 and what invocations run', async () => {
    const created = await fixtures.create(client, { FunctionName: name, Code: { ZipFile: v1 } });
    await waitReady(client, name);
    assert.deepEqual(await invokeJson(name, { n: 1 }), { version: 1, event: { n: 1 } });

    const out = await send(client, new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: v2 }));
    assert.equal(out.$metadata.httpStatusCode, 200);
    assertFunctionConfiguration(out, { FunctionName: name, ...runtimes.python, Code: { ZipFile: v2 } });
    assert.notEqual(out.CodeSha256, created.CodeSha256, 'CodeSha256 changes');
    assert.notEqual(out.RevisionId, created.RevisionId, 'RevisionId changes');
    assert.match(out.LastUpdateStatus ?? 'Successful', /^(InProgress|Successful)$/);

    const ready = await waitReady(client, name);
    assert.equal(ready.CodeSha256, out.CodeSha256);
    assert.deepEqual(await invokeJson(name, { n: 2 }), { version: 2, event: { n: 2 } });
  });

  test('UpdateFunctionCode of a missing function: 404', async () => {
    await rejectsNotFound(send(client, new UpdateFunctionCodeCommand({ FunctionName: uniqueName('js-missing'), ZipFile: v2 })));
  });
});

describe('UpdateFunctionConfiguration', { timeout: TEST_MS }, () => {
  const name = uniqueName('js-config');

  test('MemorySize, Timeout, Environment and Description change, and the function sees them', async () => {
    const created = await fixtures.create(client, {
      FunctionName: name,
      Code: { ZipFile: pythonZip(PY_CONTEXT) },
      Environment: { Variables: { STAGE: 'one' } },
      Description: 'before',
    });
    await waitReady(client, name);
    const before = await invokeJson(name, {});
    assert.equal(before.env.STAGE, 'one');
    assert.equal(before.memory_limit_in_mb, '128');

    const update = {
      FunctionName: name,
      MemorySize: 512,
      Timeout: 30,
      Description: 'after',
      Environment: { Variables: { STAGE: 'two', EXTRA: 'yes' } },
    };
    const out = await send(client, new UpdateFunctionConfigurationCommand(update));
    assert.equal(out.$metadata.httpStatusCode, 200);
    assertFunctionConfiguration(out, { ...update, ...runtimes.python });
    assert.deepEqual(out.Environment?.Variables, update.Environment.Variables);
    assert.equal(out.CodeSha256, created.CodeSha256, 'the code is unchanged');
    assert.notEqual(out.RevisionId, created.RevisionId, 'RevisionId changes');

    await waitReady(client, name);
    const cfg = await send(client, new GetFunctionConfigurationCommand({ FunctionName: name }));
    assertFunctionConfiguration(cfg, { ...update, ...runtimes.python });
    assert.deepEqual(cfg.Environment?.Variables, update.Environment.Variables);

    const after = await invokeJson(name, {});
    assert.equal(after.env.STAGE, 'two');
    assert.equal(after.env.EXTRA, 'yes');
    assert.equal(after.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '512');
    assert.equal(after.memory_limit_in_mb, '512');
    // Timeout 30 s: the deadline the runtime sees is about 30 s away.
    assert.ok(after.remaining_ms > 15_000 && after.remaining_ms <= 30_000, `remaining ${after.remaining_ms} ms`);
  });

  test('fields left out keep their values; Environment replaces all variables', async () => {
    const out = await send(client, new UpdateFunctionConfigurationCommand({ FunctionName: name, Description: 'again' }));
    assert.equal(out.Description, 'again');
    assert.equal(out.MemorySize, 512);
    assert.equal(out.Timeout, 30);
    assert.deepEqual(out.Environment?.Variables, { STAGE: 'two', EXTRA: 'yes' });
    await waitReady(client, name);
    const cleared = await send(client, new UpdateFunctionConfigurationCommand({ FunctionName: name, Environment: { Variables: { ONLY: '1' } } }));
    assert.deepEqual(cleared.Environment?.Variables, { ONLY: '1' });
    await waitReady(client, name);
    assert.equal((await invokeJson(name, {})).env.STAGE, undefined);
  });

  test('RevisionId: a stale one is PreconditionFailedException (412), the current one works', async () => {
    const current = await send(client, new GetFunctionConfigurationCommand({ FunctionName: name }));
    await rejectsWith(
      send(client, new UpdateFunctionConfigurationCommand({ FunctionName: name, Description: 'stale', RevisionId: `${current.RevisionId}x` })),
      'PreconditionFailedException',
      412,
    );
    await rejectsWith(
      send(client, new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: pythonZip(PY_CONTEXT), RevisionId: `${current.RevisionId}x` })),
      'PreconditionFailedException',
      412,
    );
    const out = await send(
      client,
      new UpdateFunctionConfigurationCommand({ FunctionName: name, Description: 'fresh', RevisionId: current.RevisionId }),
    );
    assert.equal(out.Description, 'fresh');
    assert.notEqual(out.RevisionId, current.RevisionId);
    await waitReady(client, name);
  });

  test('an invalid update is refused and changes nothing', async () => {
    await rejectsWith(
      send(client, new UpdateFunctionConfigurationCommand({ FunctionName: name, MemorySize: 64 })),
      'InvalidParameterValueException',
      400,
    );
    const cfg = await send(client, new GetFunctionConfigurationCommand({ FunctionName: name }));
    assert.equal(cfg.MemorySize, 512);
  });

  test('UpdateFunctionConfiguration of a missing function: 404', async () => {
    await rejectsNotFound(
      send(client, new UpdateFunctionConfigurationCommand({ FunctionName: uniqueName('js-missing'), Timeout: 5 })),
    );
  });
});

describe('DeleteFunction', { timeout: TEST_MS }, () => {
  test('deletes: 204, then GetFunction and Invoke answer 404, and it is not listed', async () => {
    const name = uniqueName('js-delete');
    await fixtures.create(client, { FunctionName: name });
    const out = await send(client, new DeleteFunctionCommand({ FunctionName: name }));
    assert.equal(out.$metadata.httpStatusCode, 204);
    fixtures.forget(name);

    await rejectsWith(send(client, new GetFunctionCommand({ FunctionName: name })), 'ResourceNotFoundException', 404);
    await rejectsWith(send(client, new InvokeCommand({ FunctionName: name })), 'ResourceNotFoundException', 404);
    assert.ok(!(await listAll(client)).some((f) => f.FunctionName === name), 'not listed');
    await rejectsWith(send(client, new DeleteFunctionCommand({ FunctionName: name })), 'ResourceNotFoundException', 404);
  });

  test('a deleted name can be created again', async () => {
    const name = uniqueName('js-recreate');
    await fixtures.create(client, { FunctionName: name });
    await send(client, new DeleteFunctionCommand({ FunctionName: name }));
    fixtures.forget(name);
    await fixtures.create(client, {
      FunctionName: name,
      Code: { ZipFile: pythonZip(`def handler(event, context):\n    return "second"\n`) },
    });
    await waitReady(client, name);
    assert.equal(await invokeJson(name, {}), 'second');
  });
});

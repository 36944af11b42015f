// Reserved concurrency through the SDK: Put, Get, Delete, and reserved 0
// throttling every invocation.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import {
  DeleteFunctionConcurrencyCommand,
  GetFunctionCommand,
  GetFunctionConcurrencyCommand,
  InvokeCommand,
  PutFunctionConcurrencyCommand,
} from '@aws-sdk/client-lambda';

import {
  Fixtures,
  TEST_MS,
  exampleZip,
  jsonBytes,
  lambdaClient,
  rejectsWith,
  runtimes,
  send,
  uniqueName,
  waitReady,
} from './lib/troupe.mjs';

const client = lambdaClient();
const fixtures = new Fixtures();
after(() => fixtures.cleanup());

describe('reserved concurrency', { timeout: TEST_MS }, () => {
  const name = uniqueName('js-conc');

  test('Get without a reservation: no ReservedConcurrentExecutions', async () => {
    await fixtures.create(client, { FunctionName: name, ...runtimes.provided, Code: { ZipFile: exampleZip('shell-echo') } });
    await waitReady(client, name);
    const out = await send(client, new GetFunctionConcurrencyCommand({ FunctionName: name }));
    assert.equal(out.$metadata.httpStatusCode, 200);
    assert.equal(out.ReservedConcurrentExecutions, undefined);
  });

  test('Put, then Get and GetFunction show it', async () => {
    const put = await send(client, new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: 3 }));
    assert.equal(put.$metadata.httpStatusCode, 200);
    assert.equal(put.ReservedConcurrentExecutions, 3);
    const got = await send(client, new GetFunctionConcurrencyCommand({ FunctionName: name }));
    assert.equal(got.ReservedConcurrentExecutions, 3);
    const fn = await send(client, new GetFunctionCommand({ FunctionName: name }));
    assert.deepEqual(fn.Concurrency, { ReservedConcurrentExecutions: 3 });
    const ok = await send(client, new InvokeCommand({ FunctionName: name, Payload: jsonBytes({ a: 1 }) }));
    assert.equal(ok.StatusCode, 200);
  });

  test('reserved 0 throttles every invocation: TooManyRequestsException (429)', async () => {
    const put = await send(client, new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: 0 }));
    assert.equal(put.ReservedConcurrentExecutions, 0);
    assert.equal((await send(client, new GetFunctionConcurrencyCommand({ FunctionName: name }))).ReservedConcurrentExecutions, 0);
    for (let i = 0; i < 3; i++) {
      const err = await rejectsWith(
        send(client, new InvokeCommand({ FunctionName: name, Payload: jsonBytes({ i }) })),
        'TooManyRequestsException',
        429,
      );
      assert.equal(err.Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
    }
  });

  test('Delete (204) lifts the throttle', async () => {
    const del = await send(client, new DeleteFunctionConcurrencyCommand({ FunctionName: name }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    const got = await send(client, new GetFunctionConcurrencyCommand({ FunctionName: name }));
    assert.equal(got.ReservedConcurrentExecutions, undefined);
    const fn = await send(client, new GetFunctionCommand({ FunctionName: name }));
    assert.equal(fn.Concurrency, undefined);
    const ok = await send(client, new InvokeCommand({ FunctionName: name, Payload: jsonBytes({ back: true }) }));
    assert.equal(ok.StatusCode, 200);
    assert.deepEqual(JSON.parse(Buffer.from(ok.Payload).toString()), { back: true });
  });

  test('a negative reservation: InvalidParameterValueException (400)', async () => {
    await rejectsWith(
      send(client, new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: -1 })),
      'InvalidParameterValueException',
      400,
    );
  });

  test('on a missing function: ResourceNotFoundException (404)', async () => {
    const missing = uniqueName('js-missing');
    await rejectsWith(
      send(client, new PutFunctionConcurrencyCommand({ FunctionName: missing, ReservedConcurrentExecutions: 1 })),
      'ResourceNotFoundException',
      404,
    );
    await rejectsWith(send(client, new GetFunctionConcurrencyCommand({ FunctionName: missing })), 'ResourceNotFoundException', 404);
    await rejectsWith(send(client, new DeleteFunctionConcurrencyCommand({ FunctionName: missing })), 'ResourceNotFoundException', 404);
  });
});

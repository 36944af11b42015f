// SigV4 authentication and tenant isolation through the SDK.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import {
  DeleteFunctionCommand,
  GetFunctionCommand,
  GetFunctionConcurrencyCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ListFunctionsCommand,
  PutFunctionConcurrencyCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';

import {
  Fixtures,
  TEST_MS,
  endpoint,
  exampleZip,
  jsonBytes,
  lambdaClient,
  listAll,
  payloadJson,
  pythonZip,
  region,
  rejectsNotFound,
  rejectsWith,
  send,
  tenants,
  uniqueName,
  waitReady,
} from './lib/troupe.mjs';

const alpha = lambdaClient(tenants.alpha);
const beta = lambdaClient(tenants.beta);
const fixtures = new Fixtures();
after(() => fixtures.cleanup());

function clientWith(options) {
  return new LambdaClient({
    endpoint,
    region,
    credentials: tenants.alpha,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 },
    ...options,
  });
}

describe('SigV4 authentication', { timeout: TEST_MS }, () => {
  test('both tenants\' keys are accepted', async (t) => {
    for (const client of [alpha, beta]) {
      const out = await send(client, new ListFunctionsCommand({}));
      assert.equal(out.$metadata.httpStatusCode, 200);
    }
  });

  test('a wrong secret: InvalidSignatureException (403)', async (t) => {
    const client = clientWith({ credentials: { accessKeyId: tenants.alpha.accessKeyId, secretAccessKey: 'not-the-secret' } });
    await rejectsWith(send(client, new ListFunctionsCommand({})), 'InvalidSignatureException', 403);
    await rejectsWith(
      send(client, new InvokeCommand({ FunctionName: 'anything', Payload: jsonBytes({}) })),
      'InvalidSignatureException',
      403,
    );
  });

  test('an unknown key id: UnrecognizedClientException (403)', async (t) => {
    const client = clientWith({ credentials: { accessKeyId: 'AKIDUNKNOWN000000000', secretAccessKey: 'whatever' } });
    await rejectsWith(send(client, new ListFunctionsCommand({})), 'UnrecognizedClientException', 403);
  });

  test('signed for another region: InvalidSignatureException (403)', async (t) => {
    const other = region === 'eu-west-1' ? 'us-west-2' : 'eu-west-1';
    const client = clientWith({ region: other });
    await rejectsWith(send(client, new ListFunctionsCommand({})), 'InvalidSignatureException', 403);
  });

  test('a signature 20 minutes old: InvalidSignatureException (403)', async (t) => {
    const client = clientWith({ systemClockOffset: -20 * 60 * 1000 });
    await rejectsWith(send(client, new ListFunctionsCommand({})), 'InvalidSignatureException', 403);
  });

  test('an unsigned request: MissingAuthenticationTokenException (403)', async (t) => {
    for (const [method, path, body] of [
      ['GET', '/2015-03-31/functions/', undefined],
      ['POST', '/2015-03-31/functions/anything/invocations', '{}'],
    ]) {
      const res = await fetch(endpoint + path, { method, body, signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      assert.equal(res.status, 403, `${method} ${path}: ${res.status} ${text}`);
      const type = res.headers.get('x-amzn-errortype') ?? '';
      assert.equal(type.split(':')[0], 'MissingAuthenticationTokenException', `${method} ${path}: ${type} ${text}`);
    }
  });
});

describe('tenant isolation', { timeout: TEST_MS }, () => {
  const name = uniqueName('js-iso');

  test('beta cannot see, invoke, change or delete alpha\'s function', async (t) => {
    await fixtures.create(alpha, { FunctionName: name, Code: { ZipFile: pythonZip('def handler(e, c):\n    return "alpha"\n') } });
    await waitReady(alpha, name);

    const notFound = (command) => rejectsNotFound(send(beta, command));
    await notFound(new GetFunctionCommand({ FunctionName: name }));
    await notFound(new GetFunctionConfigurationCommand({ FunctionName: name }));
    await notFound(new InvokeCommand({ FunctionName: name, Payload: jsonBytes({}) }));
    await notFound(new InvokeCommand({ FunctionName: name, InvocationType: 'Event', Payload: jsonBytes({}) }));
    await notFound(new InvokeCommand({ FunctionName: name, InvocationType: 'DryRun' }));
    await notFound(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: pythonZip('def handler(e, c):\n    return "beta"\n') }));
    await notFound(new UpdateFunctionConfigurationCommand({ FunctionName: name, Timeout: 3 }));
    await notFound(new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: 0 }));
    await notFound(new GetFunctionConcurrencyCommand({ FunctionName: name }));
    await notFound(new DeleteFunctionCommand({ FunctionName: name }));

    assert.ok(!(await listAll(beta)).some((f) => f.FunctionName === name), 'beta does not list alpha\'s function');
    assert.ok((await listAll(alpha)).some((f) => f.FunctionName === name), 'alpha lists it');

    // Nothing beta tried changed it.
    const cfg = await send(alpha, new GetFunctionConfigurationCommand({ FunctionName: name }));
    assert.equal(cfg.Timeout, 10);
    const out = await send(alpha, new InvokeCommand({ FunctionName: name, Payload: jsonBytes({}) }));
    assert.equal(out.FunctionError, undefined);
    assert.equal(payloadJson(out), 'alpha');
  });

  test('both tenants own a function of the same name independently', async (t) => {
    const shared = uniqueName('js-same');
    const a = await fixtures.create(alpha, { FunctionName: shared, Code: { ZipFile: pythonZip('def handler(e, c):\n    return "alpha"\n') } });
    const b = await fixtures.create(beta, {
      FunctionName: shared,
      Runtime: 'provided',
      Handler: 'bootstrap',
      MemorySize: 256,
      Code: { ZipFile: exampleZip('shell-echo') },
    });
    assert.notEqual(a.FunctionArn, b.FunctionArn, 'the tenants\' functions have different ARNs (accounts)');
    await waitReady(alpha, shared);
    await waitReady(beta, shared);

    const ga = await send(alpha, new GetFunctionCommand({ FunctionName: shared }));
    const gb = await send(beta, new GetFunctionCommand({ FunctionName: shared }));
    assert.equal(ga.Configuration.Runtime, 'python3.11');
    assert.equal(gb.Configuration.Runtime, 'provided');
    assert.equal(gb.Configuration.MemorySize, 256);

    const ia = await send(alpha, new InvokeCommand({ FunctionName: shared, Payload: jsonBytes({ who: 'a' }) }));
    const ib = await send(beta, new InvokeCommand({ FunctionName: shared, Payload: jsonBytes({ who: 'b' }) }));
    assert.equal(payloadJson(ia), 'alpha');
    assert.deepEqual(payloadJson(ib), { who: 'b' });

    // Deleting beta's leaves alpha's.
    await send(beta, new DeleteFunctionCommand({ FunctionName: shared }));
    await rejectsWith(send(beta, new GetFunctionCommand({ FunctionName: shared })), 'ResourceNotFoundException', 404);
    const still = await send(alpha, new InvokeCommand({ FunctionName: shared, Payload: jsonBytes({}) }));
    assert.equal(payloadJson(still), 'alpha');
  });
});

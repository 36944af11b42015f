// Details of Lambda's API contract that SDK users depend on without thinking
// about them: request ids on every response, and FunctionName given as an ARN.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  DeleteFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  ListFunctionsCommand,
} from '@aws-sdk/client-lambda';

import {
  Fixtures,
  TEST_MS,
  exampleZip,
  jsonBytes,
  lambdaClient,
  payloadJson,
  rejectsWith,
  runtimes,
  send,
  uniqueName,
  waitReady,
} from './lib/troupe.mjs';

const client = lambdaClient();
const fixtures = new Fixtures();
after(() => fixtures.cleanup());

const name = uniqueName('js-contract');
let created;
before(async () => {
  created = await fixtures.create(client, { FunctionName: name, ...runtimes.provided, Code: { ZipFile: exampleZip('shell-echo') } });
  await waitReady(client, name);
}, { timeout: TEST_MS });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('request ids', { timeout: TEST_MS }, () => {
  test('every response carries x-amzn-RequestId, errors too', async () => {
    const ids = {
      CreateFunction: created.$metadata.requestId,
      GetFunction: (await send(client, new GetFunctionCommand({ FunctionName: name }))).$metadata.requestId,
      ListFunctions: (await send(client, new ListFunctionsCommand({}))).$metadata.requestId,
      Invoke: (await send(client, new InvokeCommand({ FunctionName: name }))).$metadata.requestId,
    };
    const err = await rejectsWith(
      send(client, new GetFunctionCommand({ FunctionName: uniqueName('js-missing') })),
      'ResourceNotFoundException',
      404,
    );
    ids['GetFunction (404)'] = err.$metadata.requestId;
    const without = Object.entries(ids).filter(([, id]) => !UUID.test(id ?? '')).map(([op]) => op);
    assert.deepEqual(without, [], `responses without an x-amzn-RequestId: ${without.join(', ')}`);
  });
});

describe('FunctionName forms', { timeout: TEST_MS }, () => {
  test('Qualifier $LATEST is the function itself', async () => {
    const got = await send(client, new GetFunctionCommand({ FunctionName: name, Qualifier: '$LATEST' }));
    assert.equal(got.Configuration.FunctionName, name);
    const out = await send(client, new InvokeCommand({ FunctionName: name, Qualifier: '$LATEST', Payload: jsonBytes({ q: 1 }) }));
    assert.equal(out.StatusCode, 200);
    assert.deepEqual(payloadJson(out), { q: 1 });
  });

  test('the function ARN and the partial ARN name the function', async () => {
    const arn = created.FunctionArn;
    const partial = arn.split(':').slice(4).join(':'); // 123456789012:function:name
    for (const FunctionName of [arn, partial, `${arn}:$LATEST`]) {
      const got = await send(client, new GetFunctionCommand({ FunctionName }));
      assert.equal(got.Configuration.FunctionName, name, FunctionName);
      const out = await send(client, new InvokeCommand({ FunctionName, Payload: jsonBytes({ by: FunctionName }) }));
      assert.equal(out.StatusCode, 200, FunctionName);
      assert.deepEqual(payloadJson(out), { by: FunctionName });
    }
  });

  test('an ARN of another region or account is not this function', async () => {
    const arn = created.FunctionArn.split(':');
    const otherRegion = [...arn.slice(0, 3), 'ap-south-2', ...arn.slice(4)].join(':');
    const otherAccount = [...arn.slice(0, 4), arn[4] === '111111111111' ? '222222222222' : '111111111111', ...arn.slice(5)].join(':');
    for (const FunctionName of [otherRegion, otherAccount]) {
      let error;
      await assert.rejects(send(client, new GetFunctionCommand({ FunctionName })), (e) => ((error = e), true));
      assert.ok(
        ['ResourceNotFoundException', 'AccessDeniedException', 'InvalidParameterValueException'].includes(error.name),
        `${FunctionName}: ${error.name}`,
      );
      assert.ok(error.$metadata.httpStatusCode >= 400 && error.$metadata.httpStatusCode < 500);
    }
  });

  test('DeleteFunction by ARN', async () => {
    const other = uniqueName('js-arn-del');
    const made = await fixtures.create(client, { FunctionName: other, ...runtimes.provided, Code: { ZipFile: exampleZip('shell-echo') } });
    const out = await send(client, new DeleteFunctionCommand({ FunctionName: made.FunctionArn }));
    assert.equal(out.$metadata.httpStatusCode, 204);
    await rejectsWith(send(client, new GetFunctionCommand({ FunctionName: other })), 'ResourceNotFoundException', 404);
  });
});

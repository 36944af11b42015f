// CreateFunction's refusals through the SDK: invalid parameters (400) and an
// existing name (409), with Lambda's modeled exceptions.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { GetFunctionCommand } from '@aws-sdk/client-lambda';

import { Fixtures, TEST_MS, exampleZip, lambdaClient, listAll, rejectsWith, runtimes, send, uniqueName } from './lib/troupe.mjs';

const client = lambdaClient();
const fixtures = new Fixtures();
after(() => fixtures.cleanup());

describe('CreateFunction: InvalidParameterValueException (400)', { timeout: TEST_MS }, () => {
  // Troupe sells memory in 128 MB slots, so it refuses sizes Lambda itself
  // (1 MB steps) would take; the other cases are Lambda's own limits.
  const cases = [
    ['MemorySize 200 (not a multiple of 128)', { MemorySize: 200 }],
    ['MemorySize 64 (under 128)', { MemorySize: 64 }],
    ['MemorySize 10368 (over 10240)', { MemorySize: 10368 }],
    ['Timeout 0', { Timeout: 0 }],
    ['Timeout 901', { Timeout: 901 }],
    ['a name with a space', { FunctionName: 'bad name' }],
    ['a name with a dot', { FunctionName: 'bad.name' }],
    ['a name of 65 characters', { FunctionName: 'n'.repeat(65) }],
    ['an unknown runtime', { Runtime: 'cobol85' }],
    ['a python handler without a module', { Handler: 'handler' }],
    ['a reserved environment variable', { Environment: { Variables: { AWS_REGION: 'elsewhere' } } }],
    ['no code', { Code: {} }],
  ];
  for (const [what, override] of cases) {
    test(what, async () => {
      const name = override.FunctionName ?? uniqueName('js-bad');
      const err = await rejectsWith(
        fixtures.create(client, { FunctionName: name, Code: { ZipFile: exampleZip('python-echo') }, ...override }),
        'InvalidParameterValueException',
        400,
      );
      assert.ok(err.message.length > 0, 'the error says why');
      if (/^[A-Za-z0-9_-]{1,64}$/.test(name))
        await rejectsWith(send(client, new GetFunctionCommand({ FunctionName: name })), 'ResourceNotFoundException', 404);
    });
  }
});

describe('CreateFunction: an existing name', { timeout: TEST_MS }, () => {
  test('ResourceConflictException (409), and the first function is untouched', async () => {
    const name = uniqueName('js-dup');
    const first = await fixtures.create(client, { FunctionName: name, ...runtimes.python, Code: { ZipFile: exampleZip('python-echo') } });
    await rejectsWith(
      fixtures.create(client, {
        FunctionName: name,
        ...runtimes.node,
        MemorySize: 256,
        Code: { ZipFile: exampleZip('node-echo') },
      }),
      'ResourceConflictException',
      409,
    );
    const got = await send(client, new GetFunctionCommand({ FunctionName: name }));
    assert.equal(got.Configuration.Runtime, runtimes.python.Runtime);
    assert.equal(got.Configuration.MemorySize, 128);
    assert.equal(got.Configuration.CodeSha256, first.CodeSha256);
    const listed = (await listAll(client)).filter((f) => f.FunctionName === name);
    assert.equal(listed.length, 1, 'listed once');
  });
});

// Versions and aliases through the SDK: PublishVersion (also through
// UpdateFunctionCode's Publish), ListVersionsByFunction, Invoke and
// GetFunctionConfiguration of a version, the Create/Get/Update/Delete/List
// alias operations, weighted routing between two versions, and DeleteFunction
// of one version.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  CreateAliasCommand,
  DeleteAliasCommand,
  DeleteFunctionCommand,
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  ListAliasesCommand,
  ListVersionsByFunctionCommand,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionCodeCommand,
} from '@aws-sdk/client-lambda';

import {
  Fixtures,
  TEST_MS,
  jsonBytes,
  lambdaClient,
  payloadJson,
  pythonZip,
  rejectsNotFound,
  rejectsWith,
  send,
  uniqueName,
  waitReady,
} from './lib/troupe.mjs';

const client = lambdaClient();
const fixtures = new Fixtures();
after(() => fixtures.cleanup());

/** A function that answers which generation of its code it is, and its version. */
function generation(n) {
  return pythonZip(`
import os

def handler(event, context):
    return {"generation": ${n}, "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}
`);
}

async function invoke(name, qualifier) {
  const out = await send(
    client,
    new InvokeCommand({ FunctionName: name, Qualifier: qualifier, Payload: jsonBytes({}) }),
  );
  assert.equal(out.StatusCode, 200);
  assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
  return { body: payloadJson(out), executed: out.ExecutedVersion };
}

describe('versions and aliases', { timeout: TEST_MS }, () => {
  const name = uniqueName('js-ver');
  let v1;
  let v2;

  before(async () => {
    await fixtures.create(client, { FunctionName: name, Code: { ZipFile: generation(1) } });
    await waitReady(client, name);
  });

  test('PublishVersion makes version 1, a copy of $LATEST', async () => {
    v1 = await send(client, new PublishVersionCommand({ FunctionName: name, Description: 'first' }));
    assert.equal(v1.$metadata.httpStatusCode, 201);
    assert.equal(v1.Version, '1');
    assert.equal(v1.Description, 'first');
    assert.match(v1.FunctionArn, new RegExp(`:function:${name}:1$`));
    const again = await send(client, new PublishVersionCommand({ FunctionName: name }));
    assert.equal(again.Version, '1', 'nothing changed: the same version');
  });

  test('UpdateFunctionCode with Publish makes version 2; version 1 keeps its code', async () => {
    v2 = await send(
      client,
      new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: generation(2), Publish: true }),
    );
    assert.equal(v2.Version, '2');
    await waitReady(client, name);
    assert.deepEqual((await invoke(name, '1')).body, { generation: 1, version: '1' });
    const latest = await invoke(name);
    assert.deepEqual(latest.body, { generation: 2, version: '$LATEST' });
    assert.equal(latest.executed, '$LATEST');
    assert.equal((await invoke(name, '2')).executed, '2');
  });

  test('PublishVersion with a stale CodeSha256 or RevisionId is refused', async () => {
    await rejectsWith(
      send(client, new PublishVersionCommand({ FunctionName: name, CodeSha256: v1.CodeSha256 })),
      'PreconditionFailedException',
      412,
    );
    await rejectsWith(
      send(client, new PublishVersionCommand({ FunctionName: name, RevisionId: 'stale' })),
      'PreconditionFailedException',
      412,
    );
  });

  test('ListVersionsByFunction: $LATEST, 1, 2, paged', async () => {
    const all = await send(client, new ListVersionsByFunctionCommand({ FunctionName: name }));
    assert.deepEqual(all.Versions.map((v) => v.Version), ['$LATEST', '1', '2']);
    const page = await send(
      client,
      new ListVersionsByFunctionCommand({ FunctionName: name, MaxItems: 2 }),
    );
    assert.equal(page.Versions.length, 2);
    const rest = await send(
      client,
      new ListVersionsByFunctionCommand({ FunctionName: name, Marker: page.NextMarker }),
    );
    assert.deepEqual(rest.Versions.map((v) => v.Version), ['2']);
    assert.equal(rest.NextMarker, undefined);
  });

  test('GetFunctionConfiguration of a version, and of a version that does not exist', async () => {
    const cfg = await send(
      client,
      new GetFunctionConfigurationCommand({ FunctionName: name, Qualifier: '1' }),
    );
    assert.equal(cfg.Version, '1');
    assert.equal(cfg.CodeSha256, v1.CodeSha256);
    await rejectsNotFound(
      send(client, new GetFunctionConfigurationCommand({ FunctionName: name, Qualifier: '9' })),
    );
    await rejectsNotFound(
      send(client, new InvokeCommand({ FunctionName: name, Qualifier: '9', Payload: jsonBytes({}) })),
    );
  });

  test('CreateAlias, GetAlias, invoke through it, UpdateAlias to another version', async () => {
    const created = await send(
      client,
      new CreateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '1' }),
    );
    assert.equal(created.$metadata.httpStatusCode, 201);
    assert.equal(created.FunctionVersion, '1');
    assert.match(created.AliasArn, new RegExp(`:function:${name}:live$`));
    const got = await send(client, new GetAliasCommand({ FunctionName: name, Name: 'live' }));
    assert.equal(got.RevisionId, created.RevisionId);
    assert.equal((await invoke(name, 'live')).executed, '1');
    await rejectsWith(
      send(client, new CreateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '2' })),
      'ResourceConflictException',
      409,
    );
    const updated = await send(
      client,
      new UpdateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '2' }),
    );
    assert.equal(updated.FunctionVersion, '2');
    assert.deepEqual((await invoke(name, 'live')).body, { generation: 2, version: '2' });
    await rejectsWith(
      send(
        client,
        new UpdateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '1', RevisionId: created.RevisionId }),
      ),
      'PreconditionFailedException',
      412,
    );
  });

  test('weighted routing sends about its share to the additional version', async () => {
    await send(
      client,
      new CreateAliasCommand({
        FunctionName: name,
        Name: 'canary',
        FunctionVersion: '1',
        RoutingConfig: { AdditionalVersionWeights: { 2: 0.3 } },
      }),
    );
    const counts = { 1: 0, 2: 0 };
    for (let i = 0; i < 200; i++) counts[(await invoke(name, 'canary')).executed] += 1;
    assert.equal(counts[1] + counts[2], 200);
    // 200 draws at p = 0.3: the count of version 2 is within 30..90 with
    // probability above 1 - 1e-7.
    assert.ok(counts[2] >= 30 && counts[2] <= 90, JSON.stringify(counts));
    const listed = await send(client, new ListAliasesCommand({ FunctionName: name }));
    assert.deepEqual(listed.Aliases.map((a) => a.Name).sort(), ['canary', 'live']);
    const canary = listed.Aliases.find((a) => a.Name === 'canary');
    assert.deepEqual(canary.RoutingConfig, { AdditionalVersionWeights: { 2: 0.3 } });
  });

  test('bad aliases are refused', async () => {
    const invalid = ['InvalidParameterValueException', 400];
    for (const [input, [type, status]] of [
      [{ Name: 'x', FunctionVersion: '7' }, ['ResourceNotFoundException', 404]],
      [{ Name: '123', FunctionVersion: '1' }, invalid],
      [{ Name: 'w', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { 2: 1.5 } } }, invalid],
      [{ Name: 'l', FunctionVersion: '$LATEST', RoutingConfig: { AdditionalVersionWeights: { 2: 0.5 } } }, invalid],
    ])
      await rejectsWith(send(client, new CreateAliasCommand({ FunctionName: name, ...input })), type, status);
  });

  test('DeleteFunction of a version an alias names is refused; of another, done', async () => {
    await rejectsWith(
      send(client, new DeleteFunctionCommand({ FunctionName: name, Qualifier: '2' })),
      'ResourceConflictException',
      409,
    );
    await send(client, new DeleteAliasCommand({ FunctionName: name, Name: 'canary' }));
    await send(client, new UpdateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '2' }));
    const out = await send(client, new DeleteFunctionCommand({ FunctionName: name, Qualifier: '1' }));
    assert.equal(out.$metadata.httpStatusCode, 204);
    await rejectsNotFound(
      send(client, new InvokeCommand({ FunctionName: name, Qualifier: '1', Payload: jsonBytes({}) })),
    );
    await rejectsNotFound(send(client, new GetAliasCommand({ FunctionName: name, Name: 'canary' })));
    assert.equal((await invoke(name, 'live')).executed, '2');
  });

  test('DeleteFunction removes every version and alias with it', async () => {
    await send(client, new DeleteFunctionCommand({ FunctionName: name }));
    fixtures.forget(name);
    await rejectsNotFound(send(client, new GetAliasCommand({ FunctionName: name, Name: 'live' })));
    await fixtures.create(client, { FunctionName: name, Code: { ZipFile: generation(3) } });
    const versions = await send(client, new ListVersionsByFunctionCommand({ FunctionName: name }));
    assert.deepEqual(versions.Versions.map((v) => v.Version), ['$LATEST'], 'a new function starts afresh');
  });
});

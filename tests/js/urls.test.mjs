// Function URLs through the SDK: Create/Get/Update/List/DeleteFunctionUrlConfig,
// and requests to the URL itself: AuthType NONE takes anyone's, AWS_IAM only
// requests its tenant signed (with SigV4, as an SDK signs), per function and alias.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createHash, createHmac } from 'node:crypto';

import {
  CreateAliasCommand,
  CreateFunctionUrlConfigCommand,
  DeleteFunctionUrlConfigCommand,
  GetFunctionUrlConfigCommand,
  ListFunctionUrlConfigsCommand,
  PublishVersionCommand,
  UpdateFunctionUrlConfigCommand,
} from '@aws-sdk/client-lambda';
import { SignatureV4 } from '@smithy/signature-v4';

import {
  Fixtures,
  TEST_MS,
  lambdaClient,
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

/** SHA-256 (or HMAC-SHA256 with a secret) in the shape SignatureV4 takes. */
class Sha256 {
  constructor(secret) {
    this.hash = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(data) {
    this.hash.update(typeof data === 'string' ? Buffer.from(data) : data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}
const fixtures = new Fixtures();
after(() => fixtures.cleanup());

const URL_HANDLER = pythonZip(`
import json

def handler(event, context):
    return {"statusCode": 201, "headers": {"x-seen-path": event["rawPath"]},
            "body": json.dumps({"method": event["requestContext"]["http"]["method"],
                                "query": event.get("queryStringParameters", {})})}
`);

/** A fetch of `url`, signed by `credentials` when given (as an SDK signs for service lambda). */
async function call(url, { method = 'GET', body, credentials } = {}) {
  const u = new URL(url);
  let headers = { host: u.host };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (credentials) {
    const signer = new SignatureV4({ service: 'lambda', region, credentials, sha256: Sha256 });
    const signed = await signer.sign({
      method,
      protocol: u.protocol,
      hostname: u.hostname,
      port: Number(u.port),
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers,
      body,
    });
    headers = signed.headers;
  }
  const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(20_000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('function URLs', { timeout: TEST_MS }, () => {
  const name = uniqueName('js-url');
  let open;

  before(async () => {
    await fixtures.create(alpha, { FunctionName: name, Code: { ZipFile: URL_HANDLER } });
    await waitReady(alpha, name);
  });

  test('CreateFunctionUrlConfig NONE: anyone reaches the function at its URL', async () => {
    open = await send(
      alpha,
      new CreateFunctionUrlConfigCommand({ FunctionName: name, AuthType: 'NONE', Cors: { AllowOrigins: ['*'] } }),
    );
    assert.equal(open.$metadata.httpStatusCode, 201);
    assert.equal(open.AuthType, 'NONE');
    assert.deepEqual(open.Cors, { AllowOrigins: ['*'] });
    assert.match(open.FunctionUrl, /^http:\/\/.+\/fn\/[a-z0-9]{32}\/$/);
    const res = await call(`${open.FunctionUrl}some/path?x=1`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.get('x-seen-path'), '/some/path');
    assert.deepEqual(JSON.parse(res.text), { method: 'POST', query: { x: '1' } });
    await rejectsWith(
      send(alpha, new CreateFunctionUrlConfigCommand({ FunctionName: name, AuthType: 'NONE' })),
      'ResourceConflictException',
      409,
    );
  });

  test('UpdateFunctionUrlConfig to AWS_IAM: only its tenant\'s signed requests get in', async () => {
    const updated = await send(
      alpha,
      new UpdateFunctionUrlConfigCommand({ FunctionName: name, AuthType: 'AWS_IAM' }),
    );
    assert.equal(updated.AuthType, 'AWS_IAM');
    assert.equal(updated.FunctionUrl, open.FunctionUrl, 'the URL stays');
    const got = await send(alpha, new GetFunctionUrlConfigCommand({ FunctionName: name }));
    assert.equal(got.AuthType, 'AWS_IAM');
    // Another ingress would see the change within its cache time; this one at once.
    const anonymous = await call(open.FunctionUrl);
    assert.equal(anonymous.status, 403, anonymous.text);
    const other = await call(open.FunctionUrl, { credentials: tenants.beta });
    assert.equal(other.status, 403, other.text);
    assert.deepEqual(JSON.parse(other.text), { Message: 'Forbidden' });
    const own = await call(`${open.FunctionUrl}p`, { credentials: tenants.alpha });
    assert.equal(own.status, 201, own.text);
  });

  test('a URL per alias, listed with the function\'s; deleting one leaves the other', async () => {
    await send(alpha, new PublishVersionCommand({ FunctionName: name }));
    await send(alpha, new CreateAliasCommand({ FunctionName: name, Name: 'prod', FunctionVersion: '1' }));
    const prod = await send(
      alpha,
      new CreateFunctionUrlConfigCommand({ FunctionName: name, Qualifier: 'prod', AuthType: 'NONE' }),
    );
    assert.match(prod.FunctionArn, /:prod$/);
    assert.notEqual(prod.FunctionUrl, open.FunctionUrl);
    assert.equal((await call(prod.FunctionUrl)).status, 201);
    const listed = await send(alpha, new ListFunctionUrlConfigsCommand({ FunctionName: name }));
    assert.equal(listed.FunctionUrlConfigs.length, 2);
    await send(alpha, new DeleteFunctionUrlConfigCommand({ FunctionName: name, Qualifier: 'prod' }));
    const after = await call(prod.FunctionUrl);
    assert.equal(after.status, 404, after.text);
    await rejectsNotFound(
      send(alpha, new GetFunctionUrlConfigCommand({ FunctionName: name, Qualifier: 'prod' })),
    );
    await send(alpha, new GetFunctionUrlConfigCommand({ FunctionName: name }));
  });

  test('bad configurations are refused', async () => {
    await rejectsWith(
      send(alpha, new CreateFunctionUrlConfigCommand({ FunctionName: name, Qualifier: 'prod', AuthType: 'SOMETIMES' })),
      'InvalidParameterValueException',
      400,
    );
    await rejectsWith(
      send(alpha, new CreateFunctionUrlConfigCommand({ FunctionName: name, Qualifier: '1', AuthType: 'NONE' })),
      'InvalidParameterValueException',
      400,
    );
    await rejectsNotFound(
      send(alpha, new CreateFunctionUrlConfigCommand({ FunctionName: name, Qualifier: 'nope', AuthType: 'NONE' })),
    );
  });
});

// An unmodified Lambda handler for the nodejs-ric runtime (aws-lambda-ric):
// returns its event and what its context holds, or throws when asked to.
exports.handler = async (event, context) => {
  if (event.fail) throw new TypeError(event.fail);
  if (event.big) return 'x'.repeat(event.big);
  return {
    event,
    awsRequestId: context.awsRequestId,
    invokedFunctionArn: context.invokedFunctionArn,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    remainingMs: context.getRemainingTimeInMillis(),
    clientContext: context.clientContext === undefined ? null : context.clientContext,
    traceId: process.env._X_AMZN_TRACE_ID,
    underRic: typeof globalThis.awslambda === 'object', // the RIC's global, not Troupe's bootstrap
  };
};

// An echo function for Troupe's nodejs runtime: returns the event it got, with
// a little context, so a caller sees what the platform delivered.
exports.handler = async (event, context) => {
  if (event && event.fail) throw new Error(String(event.fail));
  return {
    echo: event,
    function: context.functionName,
    request_id: context.awsRequestId,
    memory_mb: context.memoryLimitInMB,
  };
};

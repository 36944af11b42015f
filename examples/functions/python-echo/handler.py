"""An echo function for Troupe's python3 runtime: returns the event it got,
with a little context, so a caller sees what the platform delivered."""


def handler(event, context):
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError(str(event["fail"]))
    return {
        "echo": event,
        "function": context.function_name,
        "request_id": context.aws_request_id,
        "memory_mb": context.memory_limit_in_mb,
    }

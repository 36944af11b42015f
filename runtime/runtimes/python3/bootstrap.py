"""Troupe's Python runtime: the Lambda Runtime API loop, standard library only.

Pre-started in a template (runtime/sandbox_wire.hpp): once its modules are
loaded it writes "R" on fd 3 and waits there for its claim, the function's
environment; until then no function's code is mounted. Then it loads
`module.function` from $_HANDLER out of $LAMBDA_TASK_ROOT and asks the Runtime
API for events forever, answering each with the handler's result or an error
document shaped as Lambda's ({errorMessage, errorType, stackTrace}).
"""
import http.client
import importlib
import json
import os
import socket
import sys
import threading
import time
import traceback
import types

BASE = "/2018-06-01/runtime"
CLAIM_FD = 3


def take_claim():
    """Waits for the claim on fd 3 and makes its environment ours.

    The claim is NUL-terminated strings: argv (unused here), an empty string,
    then KEY=VALUE entries. Without fd 3 (started by hand) the environment is
    used as it is.
    """
    try:
        os.write(CLAIM_FD, b"R")
    except OSError:
        return
    data = bytearray()
    while True:
        chunk = os.read(CLAIM_FD, 65536)
        if not chunk:
            break
        data += chunk
    os.close(CLAIM_FD)
    parts = bytes(data).split(b"\0")
    env = parts[parts.index(b"") + 1:] if b"" in parts else []
    os.environ.clear()
    for entry in env:
        key, sep, value = entry.decode("utf-8", "surrogateescape").partition("=")
        if sep:
            os.environ[key] = value
    os.chdir(os.environ.get("LAMBDA_TASK_ROOT", "/var/task"))


def json_header(headers, name):
    """A JSON object header of /next, parsed; None if absent or not an object."""
    try:
        value = json.loads(headers.get(name) or "null")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Context:
    """The context object Lambda handlers receive."""

    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        identity = json_header(headers, "Lambda-Runtime-Cognito-Identity")
        if identity is not None:  # as Lambda's Python runtime names its parts
            self.identity = types.SimpleNamespace(
                cognito_identity_id=identity.get("cognitoIdentityId"),
                cognito_identity_pool_id=identity.get("cognitoIdentityPoolId"))
        context = json_header(headers, "Lambda-Runtime-Client-Context")
        if context is not None:
            self.client_context = types.SimpleNamespace(
                client=context.get("client"), custom=context.get("custom"), env=context.get("env"))

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def error_document(exc):
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


class Api:
    def __init__(self):
        self.conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])

    def call(self, method, path, body=None, headers=None):
        self.conn.request(method, BASE + path, body=body, headers=headers or {})
        resp = self.conn.getresponse()
        return resp, resp.read()

    def post_json(self, path, doc, error_type=None):
        headers = {"Content-Type": "application/json"}
        if error_type:
            headers["Lambda-Runtime-Function-Error-Type"] = error_type
        return self.call("POST", path, json.dumps(doc).encode(), headers)


def load_handler(api):
    name = os.environ.get("_HANDLER", "")
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", "/var/task"))
    try:
        module_name, _, function_name = name.rpartition(".")
        if not module_name:
            raise ValueError(f"Bad handler '{name}': expected module.function")
        module = importlib.import_module(module_name.replace("/", "."))
        return getattr(module, function_name)
    except Exception as exc:  # an init error ends this instance
        doc = error_document(exc)
        doc["errorType"] = "Runtime.ImportModuleError"
        doc["errorMessage"] = f"Unable to import module '{name}': {exc}"
        api.post_json("/init/error", doc, "Runtime.ImportModuleError")
        sys.exit(1)


def warm_up():
    """Runs every invocation's HTTP and JSON paths once before the claim.

    The first exchange of a fresh interpreter compiles the regular expressions
    and builds the parser objects of http.client and email (several
    milliseconds of bytecode) that would otherwise land on the cold start. A
    one-shot server on an ephemeral loopback port of the sandbox's own network
    stands in for the Runtime API.
    """
    body = b'{"warm": true}'
    reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
             b"Lambda-Runtime-Aws-Request-Id: warm\r\nContent-Length: "
             + str(len(body)).encode() + b"\r\n\r\n" + body)
    try:
        server = socket.create_server(("127.0.0.1", 0))
    except OSError:
        return

    def serve():
        try:
            conn, _ = server.accept()
            with conn:
                for _ in range(2):
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            while len(body) < int(line.split(b":")[1]):
                                body += conn.recv(65536)
                    conn.sendall(reply)
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    conn = http.client.HTTPConnection("127.0.0.1", server.getsockname()[1], timeout=2)
    try:
        conn.request("GET", BASE + "/invocation/next")
        resp = conn.getresponse()
        headers = {k: v for k, v in resp.getheaders()}
        json.loads(resp.read())
        Context(headers)
        conn.request("POST", BASE + "/invocation/warm/response",
                     body=json.dumps({"warm": [1, "a", None]}).encode(),
                     headers={"Content-Type": "application/json"})
        conn.getresponse().read()
    except (OSError, http.client.HTTPException, ValueError):
        pass  # warming is best effort
    conn.close()  # the server sees EOF if it still waits
    thread.join(2)
    server.close()


def warm_imports():
    """Imports a throwaway module from source once before the claim, so that the
    import machinery (path finders, the source loader, the compiler) is warm
    when the handler's module loads; /var/task is read-only, so there is never
    a cached bytecode file to help."""
    import shutil
    import tempfile
    folder = tempfile.mkdtemp(prefix="troupe-warm-")
    try:
        with open(os.path.join(folder, "troupe_warm_module.py"), "w") as f:
            f.write("import json\n\ndef handler(event, context):\n    return {'echo': event}\n")
        sys.path.insert(0, folder)
        importlib.import_module("troupe_warm_module").handler({}, None)
    except Exception:
        pass  # warming is best effort
    finally:
        sys.modules.pop("troupe_warm_module", None)
        if folder in sys.path:
            sys.path.remove(folder)
        sys.path_importer_cache.pop(folder, None)
        shutil.rmtree(folder, ignore_errors=True)


def flush_output():
    """Before the answer: what the handler printed belongs to its invocation's
    log, which the host closes when the answer comes."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def main():
    warm_up()
    warm_imports()
    take_claim()
    api = Api()
    handler = load_handler(api)
    while True:
        resp, body = api.call("GET", "/invocation/next")
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        headers = {k: v for k, v in resp.getheaders()}
        os.environ["_X_AMZN_TRACE_ID"] = headers.get("Lambda-Runtime-Trace-Id", "")
        try:
            event = json.loads(body) if body else None
            result = handler(event, Context(headers))
            flush_output()
            api.post_json(f"/invocation/{request_id}/response", result)
        except Exception as exc:
            flush_output()
            api.post_json(f"/invocation/{request_id}/error", error_document(exc), "Unhandled")


if __name__ == "__main__":
    main()

"""budgetml's Python predictor host: runs one Python predictor for one runtime worker.

Started by the runtime (runtime/predictor/python/pythonHost.ts) as
    python budgetml_host.py PREDICTOR.py ENTRYPOINT CHANNEL_FD
It imports the predictor file, instantiates the class, calls load(), then answers predictions
sent over the channel (a socket on CHANNEL_FD) until the runtime closes it.

Frames, both ways (the layout is runtime/predictor/python/frames.ts's):
    u32 big-endian header length | u32 big-endian body length | header (UTF-8 JSON) | body (bytes)
The body is raw bytes (a JSON document, an upload, an answer): binary stays binary.

From the runtime: {"id": n, "kind": "dict" | "image" | "generic", ...metadata} + the request body.
To the runtime:   {"op": "ready", "name": ...} or {"op": "load_failed", "error", "traceback"} once,
                  then per prediction {"id": n, "ok": true, "status", "headers"} + the answer body,
                  or {"id": n, "ok": false, "error", "traceback"} (500),
                  or {"id": n, "ok": false, "status": 4xx, "error"} for an HTTPException-like error.

`async def predict` runs on this process's event loop, so predictions overlap; a plain `def
predict` runs in a thread pool, off the loop, as FastAPI runs plain endpoints.
"""

import asyncio
import dataclasses
import importlib.util
import inspect
import io
import json
import os
import signal
import socket
import struct
import sys
import traceback
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlsplit

PREFIX = struct.Struct(">II")
# Threads for plain `def predict`: enough to overlap I/O-bound or GIL-releasing (numpy) work.
SYNC_THREADS = int(os.environ.get("BUDGET_PYTHON_THREADS", "8"))
# Answers the runtime sends with its own framing; a predictor's copy would contradict it.
HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


# ---- What predict(request) receives, duck-compatible with FastAPI's objects per endpoint ----


class Headers(Mapping):
    """Case-insensitive, multi-valued headers (as Starlette's `request.headers`)."""

    def __init__(self, pairs):
        self.raw = [(str(k).lower(), str(v)) for k, v in pairs]

    def __getitem__(self, key):
        key = key.lower()
        for name, value in self.raw:
            if name == key:
                return value
        raise KeyError(key)

    def __iter__(self):
        return iter(dict.fromkeys(name for name, _ in self.raw))

    def __len__(self):
        return len(dict.fromkeys(name for name, _ in self.raw))

    def getlist(self, key):
        key = key.lower()
        return [value for name, value in self.raw if name == key]

    def __repr__(self):
        return f"Headers({dict(self.raw)!r})"


class QueryParams(Mapping):
    """The query string: the last value per name, all of them with getlist (as Starlette's)."""

    def __init__(self, query):
        self.multi = parse_qsl(query, keep_blank_values=True)
        self.last = dict(self.multi)

    def __getitem__(self, key):
        return self.last[key]

    def __iter__(self):
        return iter(self.last)

    def __len__(self):
        return len(self.last)

    def getlist(self, key):
        return [value for name, value in self.multi if name == key]

    def __repr__(self):
        return f"QueryParams({self.multi!r})"


class Request:
    """POST /predict: the raw request, as a Starlette `Request` offers it."""

    def __init__(self, method, url, headers, body):
        self.method = method
        self.url = url
        self.headers = Headers(headers)
        self.query_params = QueryParams(urlsplit(url).query)
        self._body = body

    async def body(self):
        return self._body

    async def json(self):
        return json.loads(self._body)

    async def stream(self):
        yield self._body


class Payload:
    """POST /predict_dict: the body `{"payload": {...}}`, as the seed's Pydantic `Payload`."""

    def __init__(self, payload):
        self.payload = payload

    def dict(self):
        return {"payload": self.payload}

    model_dump = dict

    def __repr__(self):
        return f"Payload(payload={self.payload!r})"


class UploadFile:
    """POST /predict_image: the uploaded file, as FastAPI's `UploadFile`."""

    def __init__(self, filename, content_type, data):
        self.filename = filename
        self.content_type = content_type
        self.size = len(data)
        self.headers = Headers([("content-type", content_type)])
        self.file = io.BytesIO(data)

    async def read(self, size=-1):
        return self.file.read(size)

    async def seek(self, offset):
        self.file.seek(offset)

    async def close(self):
        self.file.close()

    def __repr__(self):
        return f"UploadFile(filename={self.filename!r}, size={self.size})"


def to_request(header, body):
    kind = header["kind"]
    if kind == "dict":
        return Payload(json.loads(body))
    if kind == "image":
        return UploadFile(header.get("filename", ""), header.get("contentType", "application/octet-stream"), body)
    return Request(header.get("method", "POST"), header.get("url", "/"), header.get("headers", []), body)


# ---- What predict returns, encoded for the runtime ----


def jsonable(value):
    """What json.dumps cannot encode by itself: numpy arrays and scalars, Pydantic models, dataclasses, sets."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def is_response(value):
    return hasattr(value, "body") and any(hasattr(value, name) for name in ("status_code", "headers", "media_type"))


def response_headers(value):
    headers = getattr(value, "headers", None) or {}
    raw = getattr(headers, "raw", None)  # Starlette keeps (bytes, bytes) pairs here
    pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw] if isinstance(raw, list) else list(dict(headers).items())
    pairs = [[str(k).lower(), str(v)] for k, v in pairs if str(k).lower() not in HOP_HEADERS]
    media_type = getattr(value, "media_type", None)
    if media_type and not any(k == "content-type" for k, _ in pairs):
        pairs.append(["content-type", media_type])
    return pairs


def encode_answer(result):
    """(header, body) for what predict returned: bytes as octet-stream, a Response as is, else JSON."""
    if isinstance(result, (bytes, bytearray, memoryview)):
        return {"status": 200, "headers": [["content-type", "application/octet-stream"]]}, bytes(result)
    if is_response(result):
        body = result.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        status = int(getattr(result, "status_code", 200) or 200)
        return {"status": status, "headers": response_headers(result)}, bytes(body or b"")
    try:
        body = json.dumps(result, default=jsonable, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise TypeError(f"predict() returned a value that cannot be sent as JSON: {error}") from error
    return {"status": 200, "headers": [["content-type", "application/json"]]}, body


# ---- Loading the predictor ----


def load_class(path, entrypoint):
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)  # the predictor's own modules beside it import as usual
    spec = importlib.util.spec_from_file_location("predictor", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["predictor"] = module
    spec.loader.exec_module(module)
    name = entrypoint or "Predictor"
    cls = getattr(module, name, None)
    if not inspect.isclass(cls):
        classes = [n for n, v in vars(module).items() if inspect.isclass(v) and v.__module__ == module.__name__]
        found = f" (classes: {', '.join(classes)})" if classes else " (it defines no class)"
        raise LookupError(f'no class "{name}" in {os.path.basename(path)}{found}')
    instance = cls()
    if not callable(getattr(instance, "predict", None)):
        raise LookupError(f'class "{name}" has no predict() method')
    return instance, name


# ---- The channel ----


class Channel:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    async def receive(self):
        """The next (header, body), or None once the runtime has closed the channel."""
        try:
            header_length, body_length = PREFIX.unpack(await self.reader.readexactly(PREFIX.size))
            frame = await self.reader.readexactly(header_length + body_length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return json.loads(frame[:header_length]), frame[header_length:]

    def send(self, header, body=b""):
        encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
        if len(body) < 65536:
            self.writer.write(PREFIX.pack(len(encoded), len(body)) + encoded + body)
        else:
            self.writer.writelines([PREFIX.pack(len(encoded), len(body)), encoded, body])


def failure(error):
    return {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}


async def predict_one(channel, predictor, run_sync, header, body):
    call = header["id"]
    try:
        request = to_request(header, body)
        result = await run_sync(predictor.predict, request)
        if inspect.isawaitable(result):
            result = await result
        answer, payload = encode_answer(result)
        channel.send({"id": call, "ok": True, **answer}, payload)
    except Exception as error:
        status = getattr(error, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500 and hasattr(error, "detail"):
            # FastAPI's HTTPException (or anything shaped like it): the client's mistake, told as such.
            channel.send({"id": call, "ok": False, "status": status, "error": str(error.detail)})
        else:  # the runtime answers 500 and logs the traceback with the request id
            channel.send({"id": call, "ok": False, **failure(error)})


async def serve(path, entrypoint, channel_fd):
    loop = asyncio.get_running_loop()
    sock = socket.socket(fileno=channel_fd)
    reader, writer = await asyncio.open_connection(sock=sock)
    channel = Channel(reader, writer)
    try:
        predictor, name = load_class(path, entrypoint)
        load = getattr(predictor, "load", None)
        if callable(load):
            loaded = load()
            if inspect.isawaitable(loaded):
                await loaded
    except BaseException as error:  # SystemExit and KeyboardInterrupt in load() are load failures too
        channel.send({"op": "load_failed", **failure(error)})
        await writer.drain()
        return 1
    channel.send({"op": "ready", "name": f"{os.path.basename(path)}:{name}"})

    pool = ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="predict")
    if inspect.iscoroutinefunction(predictor.predict):
        async def run_sync(function, request):
            return await function(request)
    else:
        async def run_sync(function, request):
            return await loop.run_in_executor(pool, function, request)

    tasks = set()
    while True:
        received = await channel.receive()
        if received is None:
            break
        header, body = received
        task = loop.create_task(predict_one(channel, predictor, run_sync, header, body))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    pool.shutdown(wait=False, cancel_futures=True)
    return 0


def confine_to_own_processes():
    """Puts this process, and every process it starts, in a Landlock domain of its own before the
    predictor's code runs. The kernel then refuses it ptrace-style access to any process outside
    the domain, even one of the same account: reading /proc/<pid>/environ, mem or maps of the
    runtime that started it, of the runtime's other workers, of the other slot. The one access right
    the ruleset handles (creating block devices, which needs privileges anyway) restricts nothing a
    predictor does. Returns None, or why the kernel would not (no Landlock: Linux before 5.13, or
    not enabled in its `lsm=` list). https://docs.kernel.org/userspace-api/landlock.html"""
    if sys.platform != "linux":
        return "not Linux"
    import ctypes

    landlock_create_ruleset, landlock_restrict_self = 444, 446  # the same number on every architecture
    pr_set_no_new_privs, access_fs_make_block = 38, 1 << 11
    libc = ctypes.CDLL(None, use_errno=True)
    attributes = ctypes.c_uint64(access_fs_make_block)  # struct landlock_ruleset_attr, ABI 1
    ruleset = libc.syscall(landlock_create_ruleset, ctypes.byref(attributes), ctypes.sizeof(attributes), 0)
    if ruleset < 0:
        return os.strerror(ctypes.get_errno())
    try:
        # Landlock requires no_new_privs (the VM's unit sets it anyway): no setuid program can undo this.
        if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0 or libc.syscall(landlock_restrict_self, ruleset, 0) != 0:
            return os.strerror(ctypes.get_errno())
    finally:
        os.close(ruleset)
    return None


def main():
    if len(sys.argv) != 4:
        print("usage: budgetml_host.py PREDICTOR.py ENTRYPOINT CHANNEL_FD", file=sys.stderr)
        return 2
    # The runtime decides when this process ends (it closes the channel after draining); a signal
    # sent to the whole process group (Ctrl-C, systemd's stop) must not cut predictions short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    not_confined = confine_to_own_processes()
    if not_confined and not_confined != "not Linux":
        print(
            f"budgetml: the predictor is not kept from other processes of its account (Landlock: {not_confined})",
            file=sys.stderr,
        )
    # print() in a predictor must not land in the channel or block on a full pipe unseen: it goes
    # to stderr, which the runtime logs line by line.
    sys.stdout = sys.stderr
    try:  # uvloop when installed, as uvicorn does
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(serve(sys.argv[1], sys.argv[2], int(sys.argv[3])))


if __name__ == "__main__":
    sys.exit(main())

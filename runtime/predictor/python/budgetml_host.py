"""budgetml's Python predictor host: runs one Python predictor for one runtime worker.

Started by the runtime (runtime/predictor/python/pythonHost.ts) as
    python budgetml_host.py PREDICTOR.py ENTRYPOINT CHANNEL_FD
It imports the predictor file, instantiates the class, calls load(), then answers predictions
sent over the channel (a socket on CHANNEL_FD) until the runtime closes it.

Frames, both ways (the layout is runtime/predictor/python/frames.ts's):
    u32 big-endian header length | u32 big-endian body length | header (UTF-8 JSON) | body (bytes)
The body is raw bytes (a JSON document, an upload, an answer): binary stays binary.

From the runtime: {"id": n, "kind": "dict" | "image" | "generic", ...metadata} + the request body;
                  {"id": n, "kind": "batch", "items": [{"kind", ...metadata, "length"}...]} + the
                  request bodies one after the other (predict_batch); {"id": n, "kind": "ping"}.
To the runtime:   {"op": "ready", "name", "batches": bool} or {"op": "load_failed", "error", "traceback"}
                  once, then per prediction {"id": n, "ok": true, "status", "headers"} + the answer body,
                  or {"id": n, "ok": false, "error", "traceback"} (500),
                  or {"id": n, "ok": false, "status": 4xx, "error"} for an HTTPException-like error;
                  per batch {"id": n, "ok": true, "items": [one of the above without "id", plus
                  "length"]} + the answer bodies one after the other (or a failure as above, for
                  every request of the batch); per ping {"id": n, "ok": true, "status": 204}.

`async def predict` runs on this process's event loop, so predictions overlap; a plain `def
predict` runs in a thread pool, off the loop, as FastAPI runs plain endpoints. The same goes for
`predict_batch(requests)`, which gets a list of requests and returns a list of results, one per
request in order (an exception in the list answers that request alone).
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
        return Payload(json.loads(body.decode("utf-8")))
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


# Encoders made once: json.dumps with options builds a new encoder on every call.
ANSWER_JSON = json.JSONEncoder(default=jsonable, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
HEADER_JSON = json.JSONEncoder(separators=(",", ":"))
JSON_ANSWER = {"status": 200, "headers": [["content-type", "application/json"]]}


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
        body = ANSWER_JSON.encode(result).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise TypeError(f"predict() returned a value that cannot be sent as JSON: {error}") from error
    return JSON_ANSWER, body


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


class Channel(asyncio.Protocol):
    """The runtime's end of the socket: frames in, answers out.

    Frames are cut from the bytes as they arrive (no task per read), and the answers written during
    one turn of the event loop leave in one write: fewer system calls, and one wake-up of the
    runtime for all of them.
    """

    def __init__(self, loop):
        self.loop = loop
        self.transport = None
        self.on_frame = None  # set once the predictor is loaded (the runtime sends nothing before)
        self.pending = bytearray()
        self.outgoing = []
        self.closed = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data):
        if self.pending:
            self.pending += data
            data = self.pending
        offset, size = 0, len(data)
        with memoryview(data) as view:
            while size - offset >= PREFIX.size:
                header_length, body_length = PREFIX.unpack_from(view, offset)
                start = offset + PREFIX.size
                end = start + header_length + body_length
                if end > size:
                    break
                header = json.loads(view[start : start + header_length].tobytes().decode("utf-8"))
                self.on_frame(header, view[start + header_length : end].tobytes())
                offset = end
            rest = view[offset:].tobytes() if offset < size else b""
        self.pending = bytearray(rest)

    def send(self, header, body=b""):
        encoded = HEADER_JSON.encode(header).encode("utf-8")
        if not self.outgoing:
            self.loop.call_soon(self.flush)
        self.outgoing.append(PREFIX.pack(len(encoded), len(body)))
        self.outgoing.append(encoded)
        if body:
            self.outgoing.append(body)

    def flush(self):
        outgoing, self.outgoing = self.outgoing, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(outgoing))

    async def drain(self):
        """Writes what is waiting now (before the process exits)."""
        self.flush()
        await asyncio.sleep(0)


def failure(error):
    """How a prediction that failed is told: an HTTPException-like error (4xx with a detail) as the
    client's mistake, anything else as a 500 whose traceback the runtime logs with the request id."""
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and hasattr(error, "detail"):
        return {"ok": False, "status": status, "error": str(error.detail)}
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": trace}


def in_pool(loop, pool, function):
    """`function` as a coroutine function: itself when it is one, else run in the thread pool."""
    if inspect.iscoroutinefunction(function):
        return function

    async def call(argument):
        result = await loop.run_in_executor(pool, function, argument)
        return await result if inspect.isawaitable(result) else result

    return call


async def predict_one(channel, predict, header, body):
    call = header["id"]
    try:
        answer, payload = encode_answer(await predict(to_request(header, body)))
        channel.send({"id": call, "ok": True, **answer}, payload)
    except Exception as error:
        channel.send({"id": call, **failure(error)})


async def predict_many(channel, predict_batch, header, body):
    call = header["id"]
    try:
        requests, offset = [], 0
        for item in header["items"]:
            requests.append(to_request(item, body[offset : offset + item["length"]]))
            offset += item["length"]
        results = list(await predict_batch(requests))
        if len(results) != len(requests):
            raise ValueError(f"predict_batch() returned {len(results)} results for {len(requests)} requests")
    except Exception as error:  # the whole batch failed: every request of it gets this
        channel.send({"id": call, **failure(error)})
        return
    items, bodies = [], []
    for result in results:
        payload = b""
        if isinstance(result, BaseException):
            item = failure(result)
        else:
            try:
                answer, payload = encode_answer(result)
                item = {"ok": True, **answer}
            except Exception as error:
                item = failure(error)
        item["length"] = len(payload)
        items.append(item)
        bodies.append(payload)
    channel.send({"id": call, "ok": True, "items": items}, b"".join(bodies))


async def serve(path, entrypoint, channel_fd):
    loop = asyncio.get_running_loop()
    if hasattr(asyncio, "eager_task_factory"):  # Python 3.12+: a prediction that never waits needs no task switch
        loop.set_task_factory(asyncio.eager_task_factory)
    sock = socket.socket(fileno=channel_fd)
    _, channel = await loop.connect_accepted_socket(lambda: Channel(loop), sock=sock)
    try:
        predictor, name = load_class(path, entrypoint)
        load = getattr(predictor, "load", None)
        if callable(load):
            loaded = load()
            if inspect.isawaitable(loaded):
                await loaded
    except BaseException as error:  # SystemExit and KeyboardInterrupt in load() are load failures too
        channel.send({"op": "load_failed", "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()})
        await channel.drain()
        return 1

    pool = ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="predict")
    has_batch = callable(getattr(predictor, "predict_batch", None))
    predict_batch = in_pool(loop, pool, predictor.predict_batch) if has_batch else None
    predict = in_pool(loop, pool, predictor.predict)
    tasks = set()

    def on_frame(header, body):
        kind = header.get("kind")
        if kind == "ping":  # answered by the event loop itself: it is not stuck
            channel.send({"id": header["id"], "ok": True, "status": 204, "headers": []})
            return
        if kind == "batch" and not has_batch:
            channel.send({"id": header["id"], **failure(TypeError("the predictor has no predict_batch()"))})
            return
        work = predict_many(channel, predict_batch, header, body) if kind == "batch" else predict_one(channel, predict, header, body)
        task = loop.create_task(work)
        if not task.done():
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    channel.on_frame = on_frame
    channel.send({"op": "ready", "name": f"{os.path.basename(path)}:{name}", "batches": has_batch})
    await channel.closed
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
    code = asyncio.run(serve(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    # The runtime closed the channel: nothing more can be answered. Exit now rather than wait for
    # a prediction stuck in a thread (the interpreter would join every pool thread first).
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())

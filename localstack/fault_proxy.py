#!/usr/bin/env python3
"""A fault-injecting HTTP proxy between an AWS SDK and the emulator.

Point the SDK at the proxy (AWS_ENDPOINT_URL=http://127.0.0.1:PROXY_PORT) and the proxy at
moto. Each request is forwarded unchanged, or, at the rate you set, meets one fault:

  throttle      the service's own throttling error, in its wire format:
                  EC2 (query)             HTTP 503 <Response><Errors><Error>
                                          <Code>RequestLimitExceeded</Code>
                  Auto Scaling, ELBv2,    HTTP 400 <ErrorResponse><Error><Type>Sender</Type>
                  CloudWatch, STS, IAM    <Code>Throttling</Code>
                  S3 (REST XML)           HTTP 503 <Error><Code>SlowDown</Code>
                  Service Quotas and      HTTP 400 {"__type": "TooManyRequestsException"}
                  other JSON protocols
                (Clients that speak Smithy RPC v2 CBOR, as new boto3 does to CloudWatch, get
                the query-protocol XML; reroll's CloudWatch client speaks the query protocol.)
  500           the service's internal error (InternalError / InternalFailure), HTTP 500
  503           the service's unavailable error (Unavailable / ServiceUnavailable), HTTP 503
  latency       forwarded after a delay (uniform in --latency-ms)
  reset-before  the connection is reset (TCP RST) before the request reaches moto
  reset-after   the request reaches moto and takes effect, then the connection is reset
                instead of the answer: the caller cannot know whether it happened

The service is read from the SigV4 credential scope of the Authorization header.

Usage (standalone):
  fault_proxy.py --upstream http://127.0.0.1:4566 --port 4567 --rate 0.2 [--seed N]
Counters are printed as JSON on stderr when it stops (SIGINT or SIGTERM).

As a module: FaultProxy(upstream, rate, ...).start() -> port; .stats(); .stop().
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import random
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter

KINDS = ("throttle", "500", "503", "latency", "reset-before", "reset-after")

# Default mix of fault kinds (relative weights): mostly what AWS really sends under load.
DEFAULT_MIX = {
    "throttle": 40,
    "500": 10,
    "503": 15,
    "latency": 20,
    "reset-before": 10,
    "reset-after": 5,
}

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


def service_of(headers) -> str:
    """The signing name in the SigV4 credential scope: ec2, autoscaling, s3, ..."""
    auth = headers.get("Authorization", "")
    marker = "Credential="
    at = auth.find(marker)
    if at < 0:
        return "unknown"
    scope = auth[at + len(marker) :].split(",", 1)[0].split("/")
    return scope[3] if len(scope) >= 5 else "unknown"


def error_response(service: str, kind: str, json_protocol: bool = False) -> tuple[int, str, bytes]:
    """(status, content type, body) of `kind` (throttle, 500, 503) as `service` sends it."""
    rid = str(uuid.uuid4())
    if service == "ec2":
        status, code, message = {
            "throttle": (503, "RequestLimitExceeded", "Request limit exceeded."),
            "500": (500, "InternalError", "An internal error has occurred"),
            "503": (503, "Unavailable", "The server is overloaded and can't handle the request"),
        }[kind]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>{rid}</RequestID></Response>"
        )
        return status, "text/xml;charset=UTF-8", body.encode()
    if service == "s3":
        status, code, message = {
            "throttle": (503, "SlowDown", "Please reduce your request rate."),
            "500": (500, "InternalError", "We encountered an internal error. Please try again."),
            "503": (503, "ServiceUnavailable", "Service is unable to handle request."),
        }[kind]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{rid[:16].upper()}</RequestId><HostId>{rid}</HostId></Error>"
        )
        return status, "application/xml", body.encode()
    if service == "servicequotas" or json_protocol:
        status, code, message = {
            "throttle": (400, "TooManyRequestsException", "Rate exceeded"),
            "500": (500, "ServiceException", "Internal failure"),
            "503": (503, "ServiceException", "Service unavailable"),
        }[kind]
        body = json.dumps({"__type": code, "Message": message})
        return status, "application/x-amz-json-1.1", body.encode()
    # The other query-protocol services (Auto Scaling, ELBv2, CloudWatch, STS, IAM).
    status, kind_of, code, message = {
        "throttle": (400, "Sender", "Throttling", "Rate exceeded"),
        "500": (500, "Receiver", "InternalFailure", "An internal error occurred"),
        "503": (503, "Receiver", "ServiceUnavailable", "Service is unavailable"),
    }[kind]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<ErrorResponse><Error>"
        f"<Type>{kind_of}</Type><Code>{code}</Code><Message>{message}</Message>"
        f"</Error><RequestId>{rid}</RequestId></ErrorResponse>"
    )
    return status, "text/xml", body.encode()


class FaultProxy:
    """The proxy, run in threads of this process."""

    def __init__(
        self,
        upstream: str,
        rate: float,
        mix: dict[str, float] | None = None,
        latency_ms: tuple[int, int] = (100, 1500),
        seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be http://HOST:PORT, got {upstream!r}")
        self.upstream = (parts.hostname, parts.port or 80)
        self.rate = rate
        mix = dict(mix or DEFAULT_MIX)
        unknown = set(mix) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        self.kinds = [k for k in KINDS if mix.get(k, 0) > 0]
        self.weights = [mix[k] for k in self.kinds]
        self.latency_ms = latency_ms
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.by_service: Counter = Counter()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self.server = _Server((host, port), Handler)
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> int:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self.port

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def pick(self) -> str | None:
        """The fault for the next request, or None to forward it as it is."""
        with self.lock:
            if self.random.random() >= self.rate:
                return None
            kind = self.random.choices(self.kinds, self.weights)[0]
            if kind == "latency":
                lo, hi = self.latency_ms
                return f"latency:{self.random.uniform(lo, hi) / 1000.0}"
            return kind

    def count(self, service: str, what: str) -> None:
        with self.lock:
            self.counts[what] += 1
            self.by_service[f"{service} {what}"] += 1

    def stats(self) -> dict:
        with self.lock:
            total = self.counts["requests"]
            faults = sum(v for k, v in self.counts.items() if k in KINDS)
            return {
                "requests": total,
                "faults": faults,
                "rate": self.rate,
                "by_kind": {k: self.counts[k] for k in KINDS},
                "by_service": dict(sorted(self.by_service.items())),
            }


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, *args) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), as a dropped connection does."""
        try:
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = getattr(self, "_upstream", None)
        for attempt in (1, 2):
            if conn is None:
                conn = http.client.HTTPConnection(*self.owner.upstream, timeout=120)
                self._upstream = conn
            try:
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP
                }
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, resp.getheaders(), data
            except (ConnectionError, http.client.HTTPException, OSError):
                # A kept-alive upstream connection went stale: one fresh one, then give up.
                conn.close()
                conn = None
                self._upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _handle(self) -> None:
        body = self._body()
        service = service_of(self.headers)
        proxy = self.owner
        proxy.count(service, "requests")
        fault = proxy.pick()
        if fault and fault.startswith("latency:"):
            proxy.count(service, "latency")
            time.sleep(float(fault.split(":", 1)[1]))
            fault = None
        if fault in ("throttle", "500", "503"):
            proxy.count(service, fault)
            json_protocol = "x-amz-json" in self.headers.get("Content-Type", "")
            status, ctype, payload = error_response(service, fault, json_protocol)
            extra = [("Content-Type", ctype), ("x-amzn-RequestId", str(uuid.uuid4()))]
            if ctype.startswith("application/x-amz-json"):
                extra.append(("x-amzn-ErrorType", json.loads(payload)["__type"]))
            self._send(status, extra, payload)
            return
        if fault == "reset-before":
            proxy.count(service, fault)
            self._reset()
            return
        try:
            status, headers, data = self._forward(body)
        except OSError:
            # moto is down (killed on purpose, say): the caller sees the connection drop.
            proxy.count(service, "upstream-down")
            self._reset()
            return
        if fault == "reset-after":
            proxy.count(service, fault)
            self._reset()
            return
        self._send(status, headers, data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in filter(None, text.split(",")):
        kind, _, weight = part.partition("=")
        mix[kind.strip()] = float(weight or 1)
    return mix


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True, help="the emulator, http://127.0.0.1:4566")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free)")
    p.add_argument("--rate", type=float, default=0.2, help="share of requests that meet a fault")
    p.add_argument(
        "--mix",
        type=parse_mix,
        default=None,
        help="relative weights of the fault kinds, e.g. throttle=4,500=1,503=1,latency=2,"
        "reset-before=1,reset-after=1 (default %s)" % ",".join(f"{k}={v}" for k, v in DEFAULT_MIX.items()),
    )
    p.add_argument("--latency-ms", default="100-1500", help="range of added latency, LO-HI")
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()
    lo, _, hi = args.latency_ms.partition("-")
    proxy = FaultProxy(
        args.upstream,
        args.rate,
        mix=args.mix,
        latency_ms=(int(lo), int(hi or lo)),
        seed=args.seed,
        port=args.port,
    )
    proxy.start()
    print(proxy.url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    proxy.stop()
    print(json.dumps(proxy.stats(), indent=2), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

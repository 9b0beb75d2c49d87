#!/usr/bin/env python3
"""The fleet's front door for the end-to-end tests: what CloudFront and an API Gateway REST API
(Lambda proxy integration, binary media types `*/*`) do in AWS.

Listens on 127.0.0.1:PORT and turns each request into the REST API's Lambda event (payload
format 1.0: multi-value headers and query parameters, the body base64-encoded), invokes the
function that serves its path through `cargo lambda watch`'s Invoke API
(http://WATCH/2015-03-31/functions/<function>/invocations; one watch per function, as each runs
`cargo run -p <function>`), and turns the function's answer (statusCode, multiValueHeaders,
body) back into HTTP. Lambda's limits hold on the way: an event or an answer over 6 MB is
refused with 413 / answered 502, as API Gateway and Lambda would. (An HTTP API, payload 2.0,
would fold repeated answer headers such as OCI-Tag into one comma-joined value: hence REST.) With --uploads URL, blob upload paths and the Python upload URL
go to that server instead (the streaming upload service, `stowage serve --backend aws`), as
the CloudFront behaviours of a deployment do.

    front.py PORT FUNCTION=WATCH_URL... [--uploads URL]

Routing (first match wins):
    /v2/token                              -> auth
    /v2/<name>/blobs/uploads[/...]         -> oci-blobs (or --uploads)
    /v2/<name>/blobs/...                   -> oci-blobs
    /v2[/...]                              -> oci-manifests
    /api/v1/orgs..., /api/v1/<other>       -> auth (the management API)
    /api/v1/<org>/<registry>/python[/...]  -> pypi (POST uploads: --uploads when given)
"""

import base64
import http.client
import http.server
import json
import re
import sys
import time
import urllib.parse
import uuid

LAMBDA_PAYLOAD_MAX = 6 * 1024 * 1024
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate", "host", "content-length"}

UPLOAD_RE = re.compile(r"^/v2/.+/blobs/uploads(/.*)?$")
BLOB_RE = re.compile(r"^/v2/.+/blobs/.+$")
PYTHON_RE = re.compile(r"^/api/v1/(?!orgs/)[^/]+/[^/]+/python(/.*)?$")


def route(method, path):
    """(target, function): target 'watch' or 'uploads'."""
    if path == "/v2/token":
        return "watch", "auth"
    if UPLOAD_RE.match(path):
        return "uploads", "oci-blobs"
    if BLOB_RE.match(path):
        return "watch", "oci-blobs"
    if path == "/v2" or path.startswith("/v2/"):
        return "watch", "oci-manifests"
    m = PYTHON_RE.match(path)
    if m:
        rest = m.group(1) or "/"
        if method == "POST" and rest == "/":
            return "uploads", "pypi"
        return "watch", "pypi"
    return "watch", "auth"


class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    watches = {}
    uploads = None

    def log_message(self, fmt, *args):
        sys.stderr.write("front: %s\n" % (fmt % args))

    def _answer(self, status, headers, body):
        self.send_response(status)
        length = str(len(body))
        for k, v in headers:
            if k.lower() == "content-length" and self.command == "HEAD":
                length = v  # a HEAD answer tells the size of what GET would send
            elif k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _refuse(self, status, message):
        self._answer(status, [("Content-Type", "application/json")],
                     ('{"message":"%s"}' % message).encode())

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _stream_to(self, base, path):
        """Sends the request to the upload service without holding its body in memory."""
        dest = urllib.parse.urlsplit(base)
        conn = http.client.HTTPConnection(dest.hostname, dest.port, timeout=900)
        conn.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", self.headers.get("Host", ""))
        for k, v in self.headers.items():
            if k.lower() not in HOP:
                conn.putheader(k, v)
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        n = int(self.headers.get("Content-Length") or 0)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(n))
        conn.endheaders()
        if chunked:
            conn.send(b"".join([b"%x\r\n" % len(c) + c + b"\r\n" for c in [self._body()] if c]) + b"0\r\n\r\n")
        else:
            while n > 0:
                block = self.rfile.read(min(n, 1 << 20))
                if not block:
                    break
                conn.send(block)
                n -= len(block)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        self._answer(resp.status, resp.getheaders(), data)

    def _forward(self):
        url = urllib.parse.urlsplit(self.path)
        target, function = route(self.command, url.path)
        if target == "uploads" and self.uploads:
            return self._stream_to(self.uploads, url.path + ("?" + url.query if url.query else ""))
        body = self._body()
        event = self._event(url, body)
        payload = json.dumps(event).encode()
        if len(payload) > LAMBDA_PAYLOAD_MAX:
            return self._refuse(413, "request too large for a Lambda invocation")
        dest = urllib.parse.urlsplit(self.watches[function])
        conn = http.client.HTTPConnection(dest.hostname, dest.port, timeout=900)
        conn.request("POST", f"/2015-03-31/functions/{function}/invocations", body=payload,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if resp.status != 200:
            sys.stderr.write(f"front: {function} failed: {resp.status} {data[:500]!r}\n")
            return self._refuse(502, "the function failed")
        if len(data) > LAMBDA_PAYLOAD_MAX:
            return self._refuse(502, "response too large for a Lambda invocation")
        answer = json.loads(data)
        headers = []
        for k, values in (answer.get("multiValueHeaders") or {}).items():
            headers.extend((k, v) for v in values)
        for k, v in (answer.get("headers") or {}).items():
            headers.append((k, v))
        out = answer.get("body") or ""
        out = base64.b64decode(out) if answer.get("isBase64Encoded") else out.encode()
        self._answer(int(answer.get("statusCode", 502)), headers, out)

    def _event(self, url, body):
        """The REST API's Lambda proxy event (payload 1.0) for this request."""
        multi_headers = {}
        for k, v in self.headers.items():
            multi_headers.setdefault(k, []).append(v)
        multi_query = {}
        for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
            multi_query.setdefault(k, []).append(v)
        return {
            "resource": "/{proxy+}",
            "path": url.path,
            "httpMethod": self.command,
            "headers": {k: v[-1] for k, v in multi_headers.items()},
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": {"proxy": url.path.lstrip("/")},
            "stageVariables": None,
            "requestContext": {
                "resourcePath": "/{proxy+}", "httpMethod": self.command, "path": "/prod" + url.path,
                "stage": "prod", "accountId": "123456789012", "apiId": "stowage",
                "protocol": "HTTP/1.1", "domainName": self.headers.get("Host", "localhost"),
                "requestId": uuid.uuid4().hex, "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": self.client_address[0],
                             "userAgent": self.headers.get("User-Agent", "")},
            },
            "body": base64.b64encode(body).decode() if body else None,
            "isBase64Encoded": bool(body),
        }

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


def main():
    port, uploads, args = int(sys.argv[1]), None, sys.argv[2:]
    while args:
        arg = args.pop(0)
        if arg == "--uploads":
            uploads = args.pop(0)
        else:
            name, url = arg.split("=", 1)
            Front.watches[name] = url
    Front.uploads = uploads
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Front)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()

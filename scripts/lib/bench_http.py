#!/usr/bin/env python3
"""Keep-alive HTTP client for scripts/bench (stdlib only).

Each command talks to one registry over one keep-alive connection and prints one line of
space-separated results on stdout. Any unexpected answer stops the command with exit code 2
after printing the exact request and response on stderr.

  small-blobs BASE REPO COUNT SIZE
      pushes COUNT distinct random blobs of SIZE bytes, each as a single
      `POST /v2/REPO/blobs/uploads/?digest=...` with the body (expects 201); once a server
      answers 202 to that (distribution 2.8 does), it uses POST + `PUT <location>?digest=`
      with the body for that blob and every later one.
      prints: BLOBS_PER_SECOND SECONDS MODE          (MODE: single-POST or POST+PUT)

  push-image BASE REPO TAG MANIFEST_OUT
      pushes a config blob and one small gzip'd tar layer, PUTs an OCI image manifest under
      TAG, writes the manifest bytes to MANIFEST_OUT and checks a GET by tag returns them.
      prints: MANIFEST_DIGEST

  tags BASE REPO COUNT MANIFEST_FILE
      PUTs the manifest bytes of MANIFEST_FILE under tags t0000, t0001, ... and then reads
      /v2/REPO/tags/list once.
      prints: TAGS_PER_SECOND SECONDS TAGS_IN_LIST LIST_BYTES PAGINATED(yes/no)
"""

import gzip
import hashlib
import http.client
import io
import json
import os
import sys
import tarfile
import time
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"


class Unexpected(Exception):
    pass


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    def __init__(self, base):
        parts = urllib.parse.urlsplit(base)
        self.host = parts.hostname
        self.port = parts.port or 80
        self.conn = None
        self.reconnects = 0
        self._connect()

    def _connect(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    @staticmethod
    def target_of(location):
        """Request target (path + query) of a Location header, absolute or relative."""
        parts = urllib.parse.urlsplit(location)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        return target

    def request(self, method, target, body=None, headers=None, expect=(200,)):
        headers = dict(headers or {})
        # Credentials for Stowage (a registry without authentication ignores them).
        if os.environ.get("BENCH_AUTHORIZATION"):
            k, v = os.environ["BENCH_AUTHORIZATION"].split(": ", 1)
            headers.setdefault(k, v)
        for attempt in (0, 1):
            try:
                self.conn.request(method, target, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed the keep-alive connection: count it, retry once.
                if attempt:
                    raise
                self.reconnects += 1
                self._connect()
        if resp.status not in expect:
            lines = [f"request:  {method} {target} HTTP/1.1 (host {self.host}:{self.port})"]
            lines += [f"          {k}: {v}" for k, v in headers.items()]
            if body:
                lines.append(f"          <body: {len(body)} bytes>")
            lines.append(f"response: {resp.status} {resp.reason} (expected {', '.join(map(str, expect))})")
            lines += [f"          {k}: {v}" for k, v in resp.getheaders()]
            lines.append("          body: " + data[:2000].decode("utf-8", "replace"))
            raise Unexpected("\n".join(lines))
        return resp, data

    def location(self, resp, what):
        loc = resp.getheader("Location")
        if not loc:
            raise Unexpected(f"{what}: {resp.status} answer has no Location header; headers: {resp.getheaders()}")
        return self.target_of(loc)

    def upload_post_put(self, repo, blob, digest):
        """Upload in two requests: POST (no body) then PUT ?digest= with the body."""
        resp, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/", expect=(202,))
        self.put_to(self.location(resp, "POST upload"), blob, digest)

    def put_to(self, target, blob, digest):
        sep = "&" if "?" in target else "?"
        self.request(
            "PUT",
            f"{target}{sep}digest={digest}",
            body=blob,
            headers={"Content-Type": "application/octet-stream"},
            expect=(201,),
        )


def cmd_small_blobs(base, repo, count, size):
    count, size = int(count), int(size)
    blobs = [os.urandom(size) for _ in range(count)]
    digests = [sha256(b) for b in blobs]
    reg = Registry(base)
    mode = "single-POST"
    start = time.perf_counter()
    for blob, digest in zip(blobs, digests):
        if mode == "single-POST":
            resp, _ = reg.request(
                "POST",
                f"/v2/{repo}/blobs/uploads/?digest={digest}",
                body=blob,
                headers={"Content-Type": "application/octet-stream"},
                expect=(201, 202),
            )
            if resp.status == 202:
                # No monolithic single-POST here: finish this upload with a PUT, and use
                # POST + PUT from now on.
                mode = "POST+PUT"
                reg.put_to(reg.location(resp, "POST upload"), blob, digest)
        else:
            reg.upload_post_put(repo, blob, digest)
    seconds = time.perf_counter() - start
    # Not timed: the last blob is there, whole.
    resp, _ = reg.request("HEAD", f"/v2/{repo}/blobs/{digests[-1]}", expect=(200,))
    length = resp.getheader("Content-Length")
    if length != str(size):
        raise Unexpected(f"HEAD /v2/{repo}/blobs/{digests[-1]}: Content-Length {length!r}, want {size}")
    if reg.reconnects:
        print(f"bench_http: {reg.reconnects} keep-alive reconnects", file=sys.stderr)
    print(f"{count / seconds:.1f} {seconds:.3f} {mode}")


def small_layer():
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        content = b"hello from the stowage benchmark\n" * 64
        info = tarfile.TarInfo("etc/bench.txt")
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    return gzip.compress(uncompressed, mtime=0), sha256(uncompressed)


def cmd_push_image(base, repo, tag, manifest_out):
    reg = Registry(base)
    layer, diff_id = small_layer()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        separators=(",", ":"),
    ).encode()
    for blob in (config, layer):
        reg.upload_post_put(repo, blob, sha256(blob))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER_GZ, "digest": sha256(layer), "size": len(layer)}],
        },
        indent=3,
    ).encode()
    reg.request(
        "PUT", f"/v2/{repo}/manifests/{tag}", body=manifest,
        headers={"Content-Type": OCI_MANIFEST}, expect=(201,),
    )
    resp, data = reg.request(
        "GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}, expect=(200,)
    )
    ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip()
    if data != manifest or ctype != OCI_MANIFEST:
        raise Unexpected(
            f"GET /v2/{repo}/manifests/{tag}: Content-Type {ctype!r}, {len(data)} bytes "
            f"(want {OCI_MANIFEST!r}, the {len(manifest)} bytes pushed)"
        )
    with open(manifest_out, "wb") as f:
        f.write(manifest)
    print(sha256(manifest))


def cmd_tags(base, repo, count, manifest_file):
    count = int(count)
    with open(manifest_file, "rb") as f:
        manifest = f.read()
    reg = Registry(base)
    start = time.perf_counter()
    for i in range(count):
        reg.request(
            "PUT", f"/v2/{repo}/manifests/t{i:04d}", body=manifest,
            headers={"Content-Type": OCI_MANIFEST}, expect=(201,),
        )
    seconds = time.perf_counter() - start
    resp, data = reg.request("GET", f"/v2/{repo}/tags/list", expect=(200,))
    tags = json.loads(data).get("tags") or []
    paginated = "yes" if resp.getheader("Link") else "no"
    if reg.reconnects:
        print(f"bench_http: {reg.reconnects} keep-alive reconnects", file=sys.stderr)
    print(f"{count / seconds:.1f} {seconds:.3f} {len(tags)} {len(data)} {paginated}")


COMMANDS = {"small-blobs": cmd_small_blobs, "push-image": cmd_push_image, "tags": cmd_tags}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 64
    try:
        COMMANDS[argv[1]](*argv[2:])
    except Unexpected as e:
        print(f"bench_http {argv[1]}: unexpected answer\n{e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

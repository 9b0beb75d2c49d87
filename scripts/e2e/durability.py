#!/usr/bin/env python3
"""Durability: `kill -9` a real `stowage serve` mid-upload and mid-push, restart it on the same
data directory, and check that everything it acknowledged is intact and the interrupted upload
resumes (or is refused with a clear error).

Usage: durability.py STOWAGE_BIN WORKDIR. Prints `ok - …` / `not ok - …` lines and a closing
`durability: N passed, M failed` line; exits 1 on any failure.
"""
import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

BIN, WORK = sys.argv[1], sys.argv[2]
DATA = os.path.join(WORK, "data")
REPO = "durable/test/app"
results = {"passed": 0, "failed": 0}


def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    results["passed" if cond else "failed"] += 1
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def admin(*args):
    out = subprocess.run([BIN, "--data", DATA, *args], check=True, capture_output=True, text=True)
    return out.stdout.strip()


AUTH = {}


class Server:
    def __init__(self):
        self.port = free_port()
        log = open(os.path.join(WORK, "server.log"), "ab")
        env = dict(os.environ, STOWAGE_ADMIN_PASSWORD="durability-admin-pw")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", DATA],
            stdout=log, stderr=log, env=env)
        for _ in range(300):
            try:
                self.request("GET", "/v2/")
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("server did not start")

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method, path, body=None, headers=None):
        c = self.conn()
        c.request(method, path, body=body, headers={**AUTH, **(headers or {})})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def push_blob(srv, data):
    st, _, body = srv.request("POST", f"/v2/{REPO}/blobs/uploads/?digest={sha(data)}", data,
                              {"Content-Type": "application/octet-stream"})
    return st == 201


def image_manifest(config, layer):
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(layer), "size": len(layer)}],
    }).encode()


def pusher(srv, acked, stop):
    """Pushes image after image until the server dies; records what was acknowledged."""
    i = 0
    while not stop.is_set():
        i += 1
        config = json.dumps({"n": i, "pad": "x" * 200}).encode()
        layer = os.urandom(64 * 1024)
        try:
            if not (push_blob(srv, config) and push_blob(srv, layer)):
                return
            acked["blobs"].append((sha(layer), layer))
            man = image_manifest(config, layer)
            st, _, _ = srv.request("PUT", f"/v2/{REPO}/manifests/t{i}", man,
                                   {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            if st != 201:
                return
            acked["tags"].append((f"t{i}", man))
        except OSError:
            return


def main():
    os.makedirs(WORK, exist_ok=True)
    srv = Server()
    # A writer's API token, sent as Basic credentials on every request (as CI would).
    admin("org", "create", "durable", "--owner", "admin")
    admin("registry", "create", "durable/test")
    token = admin("token", "create", "durable", "--role", "writer", "--name", "durability")
    AUTH["Authorization"] = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()

    # 1. A chunked upload with one acknowledged chunk, then a second chunk in flight at the kill.
    st, h, _ = srv.request("POST", f"/v2/{REPO}/blobs/uploads/")
    location = h["location"]
    first = os.urandom(3 * 1024 * 1024)
    st, h, _ = srv.request("PATCH", location, first,
                           {"Content-Range": f"0-{len(first) - 1}",
                            "Content-Type": "application/octet-stream"})
    check(st == 202 and h.get("range") == f"0-{len(first) - 1}", "first chunk acknowledged")
    second = os.urandom(8 * 1024 * 1024)

    def slow_patch():
        try:
            c = srv.conn()
            c.putrequest("PATCH", location)
            c.putheader("Authorization", AUTH["Authorization"])
            c.putheader("Content-Range", f"{len(first)}-{len(first) + len(second) - 1}")
            c.putheader("Content-Length", str(len(second)))
            c.endheaders()
            for off in range(0, len(second), 256 * 1024):
                c.send(second[off:off + 256 * 1024])
                time.sleep(0.05)
            c.getresponse().read()
        except OSError:
            pass

    patch_thread = threading.Thread(target=slow_patch)
    patch_thread.start()

    # 2. Meanwhile, images are pushed one after another (blobs, manifest, tag).
    acked = {"tags": [], "blobs": []}
    stop = threading.Event()
    push_thread = threading.Thread(target=pusher, args=(srv, acked, stop))
    push_thread.start()

    # 3. A manifest PUT whose body is still arriving at the kill.
    def partial_manifest():
        try:
            c = srv.conn()
            c.putrequest("PUT", f"/v2/{REPO}/manifests/interrupted")
            c.putheader("Authorization", AUTH["Authorization"])
            c.putheader("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            c.putheader("Content-Length", "4000")
            c.endheaders()
            c.send(b'{"schemaVersion": 2, ')
            time.sleep(5)
        except OSError:
            pass

    man_thread = threading.Thread(target=partial_manifest)
    man_thread.start()

    time.sleep(1.0)
    srv.kill9()
    stop.set()
    for t in (patch_thread, push_thread, man_thread):
        t.join()
    check(len(acked["tags"]) > 0, f"{len(acked['tags'])} images were acknowledged before the kill")

    srv = Server()
    # Every acknowledged manifest and tag is intact, byte for byte.
    bad = [t for t, man in acked["tags"]
           if srv.request("GET", f"/v2/{REPO}/manifests/{t}",
                          headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})[2] != man]
    check(not bad, f"all {len(acked['tags'])} acknowledged tags resolve to their exact manifests"
          + (f" (broken: {bad[:5]})" if bad else ""))
    bad = [d for d, data in acked["blobs"] if srv.request("GET", f"/v2/{REPO}/blobs/{d}")[2] != data]
    check(not bad, f"all {len(acked['blobs'])} acknowledged layers read back byte for byte")
    st, _, _ = srv.request("GET", f"/v2/{REPO}/manifests/interrupted")
    check(st == 404, "the interrupted manifest PUT left nothing behind")

    # The interrupted upload resumes from its last acknowledged byte.
    st, h, _ = srv.request("GET", location)
    check(st == 204 and h.get("range") == f"0-{len(first) - 1}",
          f"interrupted upload reports its acknowledged range after restart (got {st} {h.get('range')})")
    st, h, _ = srv.request("PATCH", location, second,
                           {"Content-Range": f"{len(first)}-{len(first) + len(second) - 1}"})
    check(st == 202, "the interrupted chunk can be sent again")
    whole = first + second
    st, _, _ = srv.request("PUT", f"{location}?digest={sha(whole)}", b"")
    check(st == 201, "the resumed upload completes with the right digest")
    st, _, body = srv.request("GET", f"/v2/{REPO}/blobs/{sha(whole)}")
    check(st == 200 and body == whole, "the resumed blob reads back byte for byte")

    # An upload that is unknown after the restart is refused clearly.
    st, _, body = srv.request("PATCH", f"/v2/{REPO}/blobs/uploads/{'0' * 32}", b"x")
    check(st == 404 and b"BLOB_UPLOAD_UNKNOWN" in body, "an unknown upload is refused with BLOB_UPLOAD_UNKNOWN")

    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(timeout=30)
    check(srv.proc.returncode == 0, "SIGTERM shuts the server down cleanly")
    print(f"durability: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

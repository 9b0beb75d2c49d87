#!/usr/bin/env python3
"""Pushes FILE to REPO through FRONT in chunks of CHUNK bytes (POST, PATCH with Content-Range
per chunk, PUT ?digest=), as a client bound by Lambda's payload limit does; then pulls it back:
the blob GET must answer 307 to a presigned URL, fetched without the registry's credentials.
Prints the timings; exits 1 on any unexpected answer or a digest mismatch.

    chunked_push.py FRONT REPO API_TOKEN FILE CHUNK
"""
import base64
import hashlib
import http.client
import json
import sys
import time
import urllib.parse

front, repo, api_token, path, chunk = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
base = urllib.parse.urlsplit(front)


def request(method, url, body=None, headers=None, host=None):
    u = urllib.parse.urlsplit(url if "://" in url else front + url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=900)
    target = u.path + ("?" + u.query if u.query else "")
    conn.request(method, target, body=body, headers=headers or {})
    resp = conn.getresponse()
    return conn, resp


basic = base64.b64encode(f"__token__:{api_token}".encode()).decode()
conn, resp = request("GET", f"/v2/token?service=stowage&scope=repository:{repo}:pull,push",
                     headers={"Authorization": "Basic " + basic})
token = json.loads(resp.read())["token"]
conn.close()
auth = {"Authorization": "Bearer " + token}

digest = hashlib.sha256()
size = 0
t0 = time.time()
conn, resp = request("POST", f"/v2/{repo}/blobs/uploads/", headers=auth)
resp.read(); conn.close()
if resp.status != 202:
    sys.exit(f"POST: {resp.status}")
location = resp.getheader("Location")
chunks = 0
with open(path, "rb") as f:
    while True:
        data = f.read(chunk)
        if not data:
            break
        digest.update(data)
        headers = dict(auth)
        headers.update({"Content-Type": "application/octet-stream",
                        "Content-Range": f"{size}-{size + len(data) - 1}",
                        "Content-Length": str(len(data))})
        conn, resp = request("PATCH", location, body=data, headers=headers)
        body = resp.read(); conn.close()
        if resp.status != 202:
            sys.exit(f"PATCH chunk {chunks} at {size}: {resp.status} {body[:300]!r}")
        location = resp.getheader("Location")
        size += len(data)
        chunks += 1
want = "sha256:" + digest.hexdigest()
sep = "&" if "?" in location else "?"
conn, resp = request("PUT", f"{location}{sep}digest={want}", headers=auth)
body = resp.read(); conn.close()
if resp.status != 201:
    sys.exit(f"PUT: {resp.status} {body[:300]!r}")
push_s = time.time() - t0

t0 = time.time()
conn, resp = request("GET", f"/v2/{repo}/blobs/{want}", headers=auth)
resp.read(); conn.close()
if resp.status != 307:
    sys.exit(f"blob GET answered {resp.status}, not a 307 to the store")
url = resp.getheader("Location")
if urllib.parse.urlsplit(url).hostname == base.hostname:
    sys.exit(f"the redirect stays on the registry's host: {url}")
conn, resp = request("GET", url)
got = hashlib.sha256()
n = 0
while True:
    block = resp.read(1 << 20)
    if not block:
        break
    got.update(block)
    n += len(block)
conn.close()
pull_s = time.time() - t0
if resp.status != 200 or "sha256:" + got.hexdigest() != want or n != size:
    sys.exit(f"pulled {n} bytes with status {resp.status}, digest sha256:{got.hexdigest()}, want {want}")
mb = size / 1e6
print(f"# {size} bytes in {chunks} chunks of at most {chunk}: push {push_s:.1f} s ({mb / push_s:.0f} MB/s), "
      f"pull through the presigned URL {pull_s:.1f} s ({mb / pull_s:.0f} MB/s)")

#!/usr/bin/env python3
"""AWS calls per registry operation, read from the `x-stowage-aws-calls` header each answer
carries when the fleet runs with STOWAGE_COUNT_AWS_CALLS=1 (an SDK interceptor counts the
requests each function sends: what AWS bills). Prints a Markdown table; exits 1 when an
operation costs more than the design allows:

    manifest pull by tag   at most 2 DynamoDB reads, no S3 call
    blob pull (> 4 MiB)    at most 1 DynamoDB read, no S3 call (307 to a URL presigned locally)
    blob pull (<= 4 MiB)   at most 1 DynamoDB read and 1 S3 GetObject (streamed by the function:
                           the one S3 read the client would otherwise make itself)
    blob HEAD              at most 1 DynamoDB read, no S3 call

    call_counts.py FRONT ORG/REGISTRY API_TOKEN
"""
import base64
import hashlib
import http.client
import json
import sys
import urllib.parse

front, ns, api_token = sys.argv[1], sys.argv[2], sys.argv[3]
repo = ns + "/counted"
READS = {"GetItem", "Query", "BatchGetItem", "Scan"}
rows = []


def send(method, path, body=None, headers=None):
    u = urllib.parse.urlsplit(front + path if path.startswith("/") else path)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    conn.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def calls(resp):
    out = {}
    for part in filter(None, (resp.getheader("x-stowage-aws-calls") or "").split(",")):
        k, v = part.rsplit("=", 1)
        out[k] = out.get(k, 0) + int(v)
    return out


def measure(label, method, path, body=None, headers=None, want=(200,)):
    resp, data = send(method, path, body, headers)
    if resp.status not in want:
        sys.exit(f"{label}: {method} {path} answered {resp.status}: {data[:300]!r}")
    c = calls(resp)
    rows.append((label, c))
    return resp, c


def split(c):
    reads = sum(v for k, v in c.items() if k.startswith("DynamoDB:") and k.split(":")[1] in READS)
    writes = sum(v for k, v in c.items() if k.startswith("DynamoDB:") and k.split(":")[1] not in READS)
    s3 = sum(v for k, v in c.items() if k.startswith("S3:"))
    other = sum(v for k, v in c.items() if not k.startswith(("DynamoDB:", "S3:")))
    return reads, writes, s3, other


basic = "Basic " + base64.b64encode(f"__token__:{api_token}".encode()).decode()
resp, c = measure("token issued for an API token (GET /v2/token)", "GET",
                  f"/v2/token?service=stowage&scope=repository:{repo}:pull,push",
                  headers={"Authorization": basic})
resp, data = send("GET", f"/v2/token?service=stowage&scope=repository:{repo}:pull,push",
                  headers={"Authorization": basic})
auth = {"Authorization": "Bearer " + json.loads(data)["token"]}

config = b"{}"
layer = b"layer bytes of the counted image " * 100
cd = "sha256:" + hashlib.sha256(config).hexdigest()
ld = "sha256:" + hashlib.sha256(layer).hexdigest()
h = dict(auth, **{"Content-Type": "application/octet-stream"})
measure("monolithic blob push (POST ?digest= with the body)", "POST",
        f"/v2/{repo}/blobs/uploads/?digest={cd}", config, h, want=(201,))
resp, c = measure("chunked push: start (POST)", "POST", f"/v2/{repo}/blobs/uploads/", None, auth, want=(202,))
loc = resp.getheader("Location")
half = len(layer) // 2
resp, c = measure("chunked push: one chunk (PATCH)", "PATCH", loc, layer[:half],
                  dict(h, **{"Content-Range": f"0-{half - 1}"}), want=(202,))
loc = resp.getheader("Location")
resp, c = measure("chunked push: another chunk (PATCH)", "PATCH", loc, layer[half:],
                  dict(h, **{"Content-Range": f"{half}-{len(layer) - 1}"}), want=(202,))
loc = resp.getheader("Location")
sep = "&" if "?" in loc else "?"
measure("chunked push: completion (PUT ?digest=)", "PUT", f"{loc}{sep}digest={ld}", None, auth, want=(201,))
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}],
}).encode()
md = "sha256:" + hashlib.sha256(manifest).hexdigest()
big = bytes(range(256)) * (5 * 4096 + 7)  # 5 MiB and a bit: redirected, not streamed
bd = "sha256:" + hashlib.sha256(big).hexdigest()
resp, _ = send("POST", f"/v2/{repo}/blobs/uploads/", None, auth)
loc = resp.getheader("Location")
cut = len(big) // 2
for start, end in ((0, cut), (cut, len(big))):
    resp, data = send("PATCH", loc, big[start:end], dict(h, **{"Content-Range": f"{start}-{end - 1}"}))
    if resp.status != 202:
        sys.exit(f"PATCH of the 5 MiB blob: {resp.status} {data[:200]!r}")
    loc = resp.getheader("Location")
resp, data = send("PUT", f"{loc}{'&' if '?' in loc else '?'}digest={bd}", None, auth)
if resp.status != 201:
    sys.exit(f"PUT of the 5 MiB blob: {resp.status} {data[:200]!r}")
measure("manifest push with one tag (PUT …/manifests/v1)", "PUT", f"/v2/{repo}/manifests/v1", manifest,
        dict(auth, **{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}), want=(201,))
_, by_tag = measure("manifest pull by tag (GET …/manifests/v1)", "GET", f"/v2/{repo}/manifests/v1", None,
                    dict(auth, Accept="application/vnd.oci.image.manifest.v1+json"))
measure("manifest pull by digest", "GET", f"/v2/{repo}/manifests/{md}", None,
        dict(auth, Accept="application/vnd.oci.image.manifest.v1+json"))
_, blob_get = measure("blob pull, 5 MiB (GET: 307 to a presigned URL)", "GET", f"/v2/{repo}/blobs/{bd}", None,
                      auth, want=(307,))
_, small_get = measure("blob pull, 3 KB (GET: streamed by the function)", "GET", f"/v2/{repo}/blobs/{ld}", None,
                       auth)
_, blob_head = measure("blob HEAD", "HEAD", f"/v2/{repo}/blobs/{ld}", None, auth)
measure("tag list (GET …/tags/list)", "GET", f"/v2/{repo}/tags/list", None, auth)
measure("Simple index page (GET …/python/simple/idna/, Basic API token)", "GET",
        f"/api/v1/{ns}/python/simple/idna/", None, {"Authorization": basic})

print("| operation | DynamoDB reads | DynamoDB writes | S3 calls | other AWS calls | the calls |")
print("|---|---|---|---|---|---|")
for label, c in rows:
    r, w, s, o = split(c)
    detail = ", ".join(f"{k.split(':')[1]} {v}" if v == 1 else f"{k.split(':')[1]} ×{v}" for k, v in sorted(c.items()))
    print(f"| {label} | {r} | {w} | {s} | {o} | {detail or 'none'} |")

bad = []
r, _, s, _ = split(by_tag)
if r > 2 or s:
    bad.append(f"manifest pull by tag: {r} reads, {s} S3 calls")
r, _, s, _ = split(blob_get)
if r > 1 or s:
    bad.append(f"blob pull: {r} reads, {s} S3 calls")
r, _, s, _ = split(small_get)
if r > 1 or s > 1:
    bad.append(f"small blob pull: {r} reads, {s} S3 calls")
r, _, s, _ = split(blob_head)
if r > 1 or s:
    bad.append(f"blob HEAD: {r} reads, {s} S3 calls")
if bad:
    print("\nover the aim: " + "; ".join(bad))
    sys.exit(1)

#!/usr/bin/env python3
"""A SigV4-checking front for s3rver, for the tests (python3 standard library only).

    s3proxy.py put ENDPOINT BUCKET KEY FILE
        PUTs FILE as KEY, signed with $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY
        (quick fixtures; the interop tests use the AWS CLI itself).

    s3proxy.py serve DIR --upstream PORT --data S3RVER_DIR [--access-key K] [--port P]
        Listens on 127.0.0.1:P (default a free port; written to DIR/port) and forwards
        every request to s3rver on 127.0.0.1:PORT once its signature holds.
        The secret is read from the environment (S3PROXY_SECRET), never argv.

s3rver checks no signature of its own that a test could rely on (the harness
starts it with --allow-mismatched-signatures), so this proxy does what S3
does: it recomputes each request's AWS Signature Version 4 from the method,
path, query, the headers named in SignedHeaders and the x-amz-content-sha256
value, with the secret it was given, and answers 403 SignatureDoesNotMatch
when they differ. Like real S3 and R2 it also requires x-amz-content-sha256
to be signed and, unless it is UNSIGNED-PAYLOAD, to be the SHA-256 of the
body that came (403 XAmzContentSHA256Mismatch otherwise).

s3rver 3.7 lacks AbortMultipartUpload and ListMultipartUploads; the proxy
answers those two itself from s3rver's data directory (DIR of --data),
where s3rver keeps each open upload as <bucket>/._S3rver_uploads/<id>/.

Every request is one JSON line in DIR/requests.jsonl (method, path, query,
status, signed headers): the tests read it to see what the client did.

Faults, for the tests: a line "COUNT STATUS" written to DIR/fail makes the
next COUNT requests get STATUS (an S3 error document) without reaching
s3rver; STATUS 0 closes the connection instead (a network error), and a
negative STATUS -N holds the request N seconds first (a stalled network). A line
"COUNT STATUS METHOD" only counts requests of that method.
"""
import argparse
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import shutil
import sys
import threading
import time
import urllib.parse

UNSIGNED = "UNSIGNED-PAYLOAD"
CHUNK = 1 << 16


def error_xml(code, message):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
            "<Message>%s</Message><RequestId>s3proxy</RequestId></Error>" % (code, message)).encode()


def uri_encode(s, safe):
    return urllib.parse.quote(s, safe=safe)


def canonical_query(raw):
    pairs = []
    for part in raw.split("&") if raw else []:
        k, _, v = part.partition("=")
        k = urllib.parse.unquote_plus(k) if "+" not in k else urllib.parse.unquote(k)
        v = urllib.parse.unquote(v)
        pairs.append((uri_encode(k, "-_.~"), uri_encode(v, "-_.~")))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class State:
    def __init__(self, args):
        self.dir = args.dir
        self.upstream = args.upstream
        self.data = args.data
        self.access_key = args.access_key
        self.secret = os.environ.get("S3PROXY_SECRET", "")
        self.lock = threading.Lock()
        self.log = open(os.path.join(args.dir, "requests.jsonl"), "a", buffering=1)

    def record(self, entry):
        with self.lock:
            entry["time"] = round(time.time(), 3)
            self.log.write(json.dumps(entry) + "\n")

    def take_failure(self, method):
        """The status to fail this request with, or None."""
        path = os.path.join(self.dir, "fail")
        with self.lock:
            try:
                with open(path) as f:
                    words = f.read().split()
            except FileNotFoundError:
                return None
            if len(words) < 2 or (len(words) > 2 and words[2] != method):
                return None
            count, status = int(words[0]), int(words[1])
            if count <= 1:
                os.unlink(path)
            else:
                with open(path + ".new", "w") as f:
                    f.write("%d %d %s\n" % (count - 1, status, " ".join(words[2:])))
                os.rename(path + ".new", path)
            return status


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3proxy"

    def log_message(self, *args):
        pass

    def send_error_doc(self, status, code, message, entry):
        body = error_xml(code, message)
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        entry.update(status=status, error=code)
        self.server.state.record(entry)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        h = hashlib.sha256()
        chunks = []
        while n > 0:
            c = self.rfile.read(min(n, CHUNK))
            if not c:
                break
            h.update(c)
            chunks.append(c)
            n -= len(c)
        return b"".join(chunks), h.hexdigest()

    def check_signature(self, path, query, body_sha):
        """None when the signature holds, else (status, code, message)."""
        st = self.server.state
        auth = self.headers.get("Authorization", "")
        m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request,"
                     r"\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$", auth)
        if not m:
            return 403, "AccessDenied", "missing or malformed AWS4-HMAC-SHA256 Authorization"
        key, date, region, signed, signature = m.groups()
        if key != st.access_key:
            return 403, "InvalidAccessKeyId", "The AWS access key Id you provided does not exist."
        names = signed.split(";")
        if "x-amz-content-sha256" not in names:
            return 400, "InvalidRequest", "x-amz-content-sha256 must be signed"
        claimed = self.headers.get("x-amz-content-sha256", "")
        if claimed != UNSIGNED and claimed != body_sha:
            return 400, "XAmzContentSHA256Mismatch", \
                "The provided 'x-amz-content-sha256' header does not match what was computed."
        amz_date = self.headers.get("x-amz-date", "")
        if "x-amz-date" not in names or not amz_date.startswith(date):
            return 403, "AccessDenied", "x-amz-date missing, unsigned or not of the credential's day"
        lines = []
        for name in names:
            value = self.headers.get(name)
            if value is None:
                return 403, "AccessDenied", "signed header %s is missing" % name
            lines.append("%s:%s\n" % (name, " ".join(value.split())))
        canonical = "\n".join([
            self.command,
            uri_encode(urllib.parse.unquote(path), "/-_.~"),
            canonical_query(query),
            "".join(lines),
            signed,
            claimed,
        ])
        scope = "%s/%s/s3/aws4_request" % (date, region)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        k = hmac256(("AWS4" + st.secret).encode(), date)
        for part in (region, "s3", "aws4_request"):
            k = hmac256(k, part)
        want = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, signature):
            return 403, "SignatureDoesNotMatch", \
                "The request signature we calculated does not match the signature you provided."
        return None

    def uploads_dir(self, bucket):
        return os.path.join(self.server.state.data, bucket, "._S3rver_uploads")

    def abort_upload(self, bucket, upload_id, entry):
        d = os.path.join(self.uploads_dir(bucket), os.path.basename(upload_id))
        if not upload_id or not os.path.isdir(d):
            return self.send_error_doc(404, "NoSuchUpload", "The specified upload does not exist.", entry)
        shutil.rmtree(d, ignore_errors=True)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        entry.update(status=204)
        self.server.state.record(entry)

    def list_uploads(self, bucket, prefix, entry):
        items = []
        base = self.uploads_dir(bucket)
        for upload_id in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            try:
                with open(os.path.join(base, upload_id, "key")) as f:
                    key = f.read()
            except OSError:
                continue
            if key.startswith(prefix):
                started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(
                    os.stat(os.path.join(base, upload_id)).st_mtime))
                items.append("<Upload><Key>%s</Key><UploadId>%s</UploadId><Initiated>%s</Initiated>"
                             "</Upload>" % (key, upload_id, started))
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult>"
                "<Bucket>%s</Bucket><Prefix>%s</Prefix><IsTruncated>false</IsTruncated>%s"
                "</ListMultipartUploadsResult>" % (bucket, prefix, "".join(items))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        entry.update(status=200)
        self.server.state.record(entry)

    def forward(self, body, entry):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.state.upstream, timeout=120)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "expect", "connection", "transfer-encoding")}
        # the client's Host: s3rver tells a virtual-hosted bucket (bk.localhost) by it
        headers["Host"] = self.headers.get("Host", "127.0.0.1")
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        length = resp.getheader("Content-Length")
        data = None
        if length is None:
            data = resp.read()
            length = str(len(data))
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", length)
        self.end_headers()
        if data is not None:
            if self.command != "HEAD":
                self.wfile.write(data)
        elif self.command != "HEAD":
            shutil.copyfileobj(resp, self.wfile, CHUNK)
        conn.close()
        entry.update(status=resp.status)
        self.server.state.record(entry)

    def handle_any(self):
        path, _, query = self.path.partition("?")
        body, body_sha = self.read_body()
        auth = self.headers.get("Authorization", "")
        signed = re.search(r"SignedHeaders=([a-z0-9;-]+)", auth)
        entry = {"method": self.command, "path": path, "query": query, "bytes": len(body),
                 "signed": signed.group(1).split(";") if signed else [],
                 "sha256": self.headers.get("x-amz-content-sha256")}
        fail = self.server.state.take_failure(self.command)
        if fail is not None and fail < 0:
            time.sleep(-fail)  # a stalled network, then a dropped connection
            fail = 0
        if fail == 0:
            entry.update(status=0, error="dropped")
            self.server.state.record(entry)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fail:
            return self.send_error_doc(fail, "InternalError" if fail >= 500 else "Injected",
                                       "injected by the test", entry)
        bad = self.check_signature(path, query, body_sha)
        if bad:
            return self.send_error_doc(bad[0], bad[1], bad[2], entry)
        parts = path.lstrip("/").split("/", 1)
        q = urllib.parse.parse_qs(query, keep_blank_values=True)
        if self.command == "DELETE" and "uploadId" in q and len(parts) == 2:
            return self.abort_upload(parts[0], q["uploadId"][0], entry)
        if self.command == "GET" and "uploads" in q and (len(parts) == 1 or not parts[1]):
            return self.list_uploads(parts[0], q.get("prefix", [""])[0], entry)
        self.forward(body, entry)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def put(args):
    """PUT a file as an object, signed with the environment's AWS keys (test fixtures)."""
    with open(args.file, "rb") as f:
        body = f.read()
    sha = hashlib.sha256(body).hexdigest()
    u = urllib.parse.urlsplit(args.endpoint)
    path = "/%s/%s" % (args.bucket, uri_encode(args.key, "/-_.~"))
    now = time.gmtime()
    amz_date, date = time.strftime("%Y%m%dT%H%M%SZ", now), time.strftime("%Y%m%d", now)
    region = os.environ.get("AWS_REGION", "us-east-1")
    headers = {"host": u.netloc, "x-amz-content-sha256": sha, "x-amz-date": amz_date}
    names = sorted(headers)
    canonical = "\n".join(["PUT", path, "", "".join("%s:%s\n" % (n, headers[n]) for n in names),
                           ";".join(names), sha])
    scope = "%s/%s/s3/aws4_request" % (date, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = hmac256(("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode(), date)
    for part in (region, "s3", "aws4_request"):
        k = hmac256(k, part)
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        os.environ["AWS_ACCESS_KEY_ID"], scope, ";".join(names),
        hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest())
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("PUT", path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    if resp.status != 200:
        sys.exit("s3proxy put: %d" % resp.status)


def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    with open(os.path.join(args.dir, "port.new"), "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(os.path.join(args.dir, "port.new"), os.path.join(args.dir, "port"))
    server.serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("dir")
    s.add_argument("--upstream", type=int, required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--access-key", default="S3RVER")
    s.add_argument("--port", type=int, default=0)
    c = sub.add_parser("put")
    c.add_argument("endpoint")
    c.add_argument("bucket")
    c.add_argument("key")
    c.add_argument("file")
    args = p.parse_args()
    if args.cmd == "put":
        return put(args)
    if not os.environ.get("S3PROXY_SECRET"):
        sys.exit("s3proxy: S3PROXY_SECRET is not set")
    serve(args)


if __name__ == "__main__":
    main()

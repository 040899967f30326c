#!/usr/bin/env python3
"""A fake Telegram Bot API for the tests (python3 standard library only).

    fake_telegram.py serve DIR [--token T] [--idle S] [--poll-max S]
        Serves http://127.0.0.1:PORT/bot<T>/<method> and writes PORT to
        DIR/port. Every call is one JSON line in DIR/calls.jsonl (a MarkdownV2
        text also as "visible", what the user reads, which --contains
        matches too); uploaded
        documents are kept as DIR/documents/<seq>-<filename>. Stops after
        S seconds without a request (default 30), or when told to.

The other subcommands talk to a running server in DIR:
    push DIR --text TEXT [--from ID] [--chat ID] [--chat-type T]
                                                   queue a message update (chat
                                                   type default: private; a
                                                   negative --chat: supergroup)
    push DIR --callback DATA [--from ID]           queue a button press on the
                                                   last message with a keyboard
    push DIR --json JSON|-                         queue raw update(s)
    fail DIR JSON      answer the next calls badly, e.g.
                       {"method":"sendMessage","status":429,"retry_after":1,"count":1}
                       {"status":500,"count":2}  {"hang":5,"count":1}
                       {"method":"sendMessage","per_second":10}: flood
                       control, calls beyond 10 a second get 429
                       {"method":"sendMessage","chat_id":"-5","status":400,
                        "description":"Bad Request: chat not found","count":9}
    wait DIR [--method M] [--contains S] [--count N] [--timeout S]
                       until N calls (default 1) match; exit 1 on timeout
    calls DIR [--method M]    the matching calls, one JSON line each
    button DIR N       callback_data of button N of the last keyboard sent
    stop DIR

getUpdates behaves like Telegram's: updates below "offset" are confirmed and
dropped, the others are returned again until then; an empty queue is held
for min(timeout, --poll-max) seconds (default 1) so the tests stay fast.
"""
import argparse
import email.parser
import email.policy
import hashlib
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request

MD_RESERVED = set("_*[]()~`>#+-=|{}.!")


class State:
    def __init__(self, args):
        self.dir = args.dir
        self.token = args.token
        self.poll_max = args.poll_max
        self.lock = threading.Condition()
        self.updates = []
        self.next_update = 1
        self.next_message = 100
        self.failures = []
        self.flood = {}  # method -> (calls allowed per second, recent call times)
        self.seq = 0
        self.last_keyboard = None
        self.last_request = time.time()
        self.log = open(os.path.join(args.dir, "calls.jsonl"), "a", buffering=1,
                        encoding="utf-8", errors="backslashreplace")
        os.makedirs(os.path.join(args.dir, "documents"), exist_ok=True)

    def record(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            entry["time"] = round(time.time(), 3)
            self.log.write(json.dumps(entry, ensure_ascii=False) + "\n")
            return self.seq

    def over_rate(self, method):
        """Telegram's flood control: more than N calls a second get 429."""
        with self.lock:
            if method not in self.flood:
                return False
            limit, times = self.flood[method]
            now = time.time()
            while times and now - times[0] >= 1:
                times.pop(0)
            if len(times) >= limit:
                return True
            times.append(now)
            return False

    def take_failure(self, method, chat_id):
        with self.lock:
            for f in self.failures:
                if f.get("method", method) != method:
                    continue
                if "chat_id" in f and str(f["chat_id"]) != str(chat_id):
                    continue
                f["count"] = f.get("count", 1) - 1
                if f["count"] <= 0:
                    self.failures.remove(f)
                return dict(f)
        return None


def utf16_len(text):
    return len(text.encode("utf-16-le")) // 2


def md_visible(text):
    """What a MarkdownV2 text shows: escapes and entity marks removed."""
    out, i, code = [], 0, False
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == "`":
            code = not code
        elif code or c not in "*_~":
            out.append(c)
        i += 1
    return "".join(out)


def markdown_v2_error(text):
    """A small MarkdownV2 check: reserved characters must be escaped
    outside entities, and entities must be closed."""
    i, open_marks, in_code = 0, [], None
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if in_code:
            if text.startswith(in_code, i):
                i += len(in_code)
                in_code = None
            else:
                i += 1
            continue
        if text.startswith("```", i):
            in_code = "```"
            i += 3
            continue
        if c == "`":
            in_code = "`"
        elif c in "*_~":
            if open_marks and open_marks[-1] == c:
                open_marks.pop()
            else:
                open_marks.append(c)
        elif text.startswith("](", i):
            # a link's URL: only ')' and '\' are escaped there
            j = i + 2
            while j < len(text) and text[j] != ")":
                j += 2 if text[j] == "\\" else 1
            if j >= len(text):
                return "Bad Request: can't parse entities: Can't find end of a URL"
            i = j + 1
            continue
        elif c in "[]":
            pass  # link text brackets
        elif c in MD_RESERVED:
            return ("Bad Request: can't parse entities: Character '%s' is "
                    "reserved and must be escaped with the preceding '\\'" % c)
        i += 1
    if open_marks or in_code:
        return "Bad Request: can't parse entities: Can't find end of the entity"
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTelegram/1.0"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        # surrogateescape: a test can make Telegram send bytes that are not UTF-8
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogateescape")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def error(self, status, description, **extra):
        obj = {"ok": False, "error_code": status, "description": description}
        if extra:
            obj["parameters"] = extra
        self.reply(status, obj)

    def read_params(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        query = urllib.parse.urlparse(self.path).query
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        files = {}
        if ctype.startswith("application/json") and body:
            params.update(json.loads(body))
        elif ctype.startswith("application/x-www-form-urlencoded"):
            params.update({k: v[-1] for k, v in urllib.parse.parse_qs(body.decode()).items()})
        elif ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                data = part.get_payload(decode=True) or b""
                if part.get_filename() is not None:
                    files[name] = (part.get_filename(), data)
                else:
                    params[name] = data.decode("utf-8", "replace")
        for key in ("reply_markup", "allowed_updates"):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        return params, files

    def do_GET(self):
        self.do_POST()

    def do_POST(self):
        st = self.server.state
        with st.lock:
            st.last_request = time.time()
        path = urllib.parse.urlparse(self.path).path
        try:
            if path.startswith("/_control/"):
                return self.control(path[len("/_control/"):])
            if not path.startswith("/bot") or path.count("/") != 2:
                return self.error(404, "Not Found")
            token, method = path[4:].split("/", 1)
            params, files = self.read_params()
        except Exception as e:  # a malformed request is the client's bug
            return self.error(400, "Bad Request: %s" % e)
        entry = {"method": method}
        for key in ("chat_id", "text", "parse_mode", "reply_markup", "caption",
                    "offset", "timeout", "allowed_updates", "callback_query_id",
                    "message_id"):
            if key in params:
                entry[key] = str(params[key]) if key == "chat_id" else params[key]
        if entry.get("parse_mode") == "MarkdownV2" and isinstance(entry.get("text"), str):
            entry["visible"] = md_visible(entry["text"])  # what the admin reads
        if token != st.token:
            entry["status"] = 401
            st.record(entry)
            return self.error(401, "Unauthorized")
        if st.over_rate(method):
            entry["status"] = 429
            st.record(entry)
            return self.error(429, "Too Many Requests: retry after 1", retry_after=1)
        fail = st.take_failure(method, params.get("chat_id"))
        if fail and fail.get("hang"):
            entry["status"] = "hang"
            st.record(entry)
            time.sleep(float(fail["hang"]))
            fail = None if fail.get("status") is None else fail
        if fail and fail.get("status"):
            entry["status"] = fail["status"]
            st.record(entry)
            extra = {}
            if fail["status"] == 429:
                extra["retry_after"] = fail.get("retry_after", 1)
            default = {429: "Too Many Requests: retry after %s" % extra.get("retry_after"),
                       500: "Internal Server Error", 502: "Bad Gateway"}
            return self.error(fail["status"], fail.get(
                "description", default.get(fail["status"], "Bad Request")), **extra)
        handler = getattr(self, "api_" + method, None)
        if handler is None:
            entry["status"] = 404
            st.record(entry)
            return self.error(404, "Not Found")
        handler(params, files, entry)

    def api_getMe(self, params, files, entry):
        entry["status"] = 200
        self.server.state.record(entry)
        self.reply(200, {"ok": True, "result": {
            "id": 4242, "is_bot": True, "first_name": "Backup", "username": "bk_test_bot"}})

    def api_getUpdates(self, params, files, entry):
        st = self.server.state
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        wait = min(float(params.get("timeout") or 0), st.poll_max)
        deadline = time.time() + wait
        with st.lock:
            while True:
                if offset:
                    st.updates = [u for u in st.updates if u["update_id"] >= offset]
                batch = st.updates[:limit]
                left = deadline - time.time()
                if batch or left <= 0:
                    break
                st.lock.wait(left)
        entry["status"] = 200
        entry["update_ids"] = [u["update_id"] for u in batch]
        st.record(entry)
        self.reply(200, {"ok": True, "result": batch})

    def check_text(self, params, key, limit):
        text = params.get(key)
        if key == "text" and (text is None or not str(text).strip()):
            return "Bad Request: message text is empty"
        if text is not None and utf16_len(str(text)) > limit:
            return "Bad Request: message is too long" if key == "text" else \
                "Bad Request: message caption is too long"
        if text is not None and params.get("parse_mode") == "MarkdownV2":
            return markdown_v2_error(str(text))
        return None

    def new_message(self, params, entry):
        st = self.server.state
        with st.lock:
            st.next_message += 1
            mid = st.next_message
            if isinstance(params.get("reply_markup"), dict):
                st.last_keyboard = (mid, str(params.get("chat_id")), params["reply_markup"])
        entry["status"] = 200
        entry["result_message_id"] = mid
        st.record(entry)
        return {"message_id": mid, "date": int(time.time()),
                "chat": {"id": params.get("chat_id"), "type": "private"}}

    def api_sendMessage(self, params, files, entry):
        if "chat_id" not in params:
            entry["status"] = 400
            self.server.state.record(entry)
            return self.error(400, "Bad Request: chat_id is empty")
        why = self.check_text(params, "text", 4096)
        if why:
            entry["status"] = 400
            entry["error"] = why
            self.server.state.record(entry)
            return self.error(400, why)
        self.reply(200, {"ok": True, "result": self.new_message(params, entry)})

    def api_sendDocument(self, params, files, entry):
        st = self.server.state
        if "document" not in files or "chat_id" not in params:
            entry["status"] = 400
            st.record(entry)
            return self.error(400, "Bad Request: there is no document in the request")
        why = self.check_text(params, "caption", 1024)
        if why:
            entry["status"] = 400
            entry["error"] = why
            st.record(entry)
            return self.error(400, why)
        name, data = files["document"]
        entry["document"] = {"filename": name, "size": len(data),
                             "sha256": hashlib.sha256(data).hexdigest()}
        result = self.new_message(params, entry)
        safe = os.path.basename(name) or "document"
        with open(os.path.join(st.dir, "documents", "%d-%s" % (entry["seq"], safe)), "wb") as f:
            f.write(data)
        self.reply(200, {"ok": True, "result": result})

    def api_answerCallbackQuery(self, params, files, entry):
        entry["status"] = 200
        self.server.state.record(entry)
        self.reply(200, {"ok": True, "result": True})

    def api_editMessageText(self, params, files, entry):
        why = self.check_text(params, "text", 4096)
        entry["status"] = 400 if why else 200
        self.server.state.record(entry)
        if why:
            return self.error(400, why)
        self.reply(200, {"ok": True, "result": {"message_id": params.get("message_id")}})

    def control(self, what):
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        with st.lock:
            if what == "updates":
                for u in body if isinstance(body, list) else [body]:
                    if "update_id" not in u:
                        u["update_id"] = st.next_update
                    st.next_update = max(st.next_update, u["update_id"]) + 1
                    st.updates.append(u)
                st.lock.notify_all()
                result = True
            elif what == "fail" and "per_second" in body:
                st.flood[body.get("method", "sendMessage")] = (body["per_second"], [])
                result = True
            elif what == "fail":
                st.failures.append(body)
                result = True
            elif what == "keyboard":
                result = st.last_keyboard
            elif what == "stop":
                threading.Thread(target=self.server.shutdown, daemon=True).start()
                result = True
            else:
                return self.error(404, "Not Found")
        self.reply(200, {"ok": True, "result": result})


def serve(args):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = State(args)

    def watchdog():
        while True:
            time.sleep(0.5)
            if time.time() - httpd.state.last_request > args.idle:
                httpd.shutdown()
                return
    threading.Thread(target=watchdog, daemon=True).start()
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % httpd.server_address[1])
    os.rename(tmp, os.path.join(args.dir, "port"))
    httpd.serve_forever(poll_interval=0.2)


def control(d, what, body):
    with open(os.path.join(d, "port")) as f:
        port = int(f.read())
    req = urllib.request.Request("http://127.0.0.1:%d/_control/%s" % (port, what),
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=120) as r:
        return json.loads(r.read())["result"]


def read_calls(d, method=None, contains=None):
    calls = []
    try:
        with open(os.path.join(d, "calls.jsonl"), encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                c = json.loads(line)
                if method and c["method"] != method:
                    continue
                if contains and contains not in line and contains not in json.dumps(c, ensure_ascii=False):
                    continue
                calls.append(c)
    except FileNotFoundError:
        pass
    return calls


def push(args):
    if args.json:
        raw = sys.stdin.read() if args.json == "-" else args.json
        return control(args.dir, "updates", json.loads(raw))
    user = {"id": args.from_id, "is_bot": False, "first_name": "U%d" % args.from_id}
    if args.text is not None:
        chat = args.chat if args.chat is not None else args.from_id
        ctype = args.chat_type or ("supergroup" if chat < 0 else "private")
        return control(args.dir, "updates", {"message": {
            "message_id": int(time.time() * 1000) % 1000000, "date": int(time.time()),
            "from": user, "chat": {"id": chat, "type": ctype}, "text": args.text}})
    kb = control(args.dir, "keyboard", None)
    mid, chat = (kb[0], kb[1]) if kb else (1, str(args.from_id))
    return control(args.dir, "updates", {"callback_query": {
        "id": "cq%d" % int(time.time() * 1e6), "from": user, "chat_instance": "1",
        "data": args.callback, "message": {"message_id": mid, "date": int(time.time()),
                                           "chat": {"id": int(chat), "type": "private"}}}})


def main():
    p = argparse.ArgumentParser(description="fake Telegram Bot API for tests")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("dir")
    s.add_argument("--token", default="123456:TEST-token-abcdefghijklmnop")
    s.add_argument("--idle", type=float, default=30)
    s.add_argument("--poll-max", type=float, default=1)
    s = sub.add_parser("push")
    s.add_argument("dir")
    s.add_argument("--text")
    s.add_argument("--callback")
    s.add_argument("--json")
    s.add_argument("--from", dest="from_id", type=int, default=111)
    s.add_argument("--chat", type=int)
    s.add_argument("--chat-type")
    s = sub.add_parser("fail")
    s.add_argument("dir")
    s.add_argument("spec")
    s = sub.add_parser("wait")
    s.add_argument("dir")
    s.add_argument("--method")
    s.add_argument("--contains")
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("calls")
    s.add_argument("dir")
    s.add_argument("--method")
    s.add_argument("--contains")
    s = sub.add_parser("button")
    s.add_argument("dir")
    s.add_argument("n", type=int)
    s = sub.add_parser("stop")
    s.add_argument("dir")
    args = p.parse_args()

    if args.cmd == "serve":
        serve(args)
    elif args.cmd == "push":
        push(args)
    elif args.cmd == "fail":
        control(args.dir, "fail", json.loads(args.spec))
    elif args.cmd == "wait":
        deadline = time.time() + args.timeout
        while len(read_calls(args.dir, args.method, args.contains)) < args.count:
            if time.time() > deadline:
                sys.stderr.write("fake_telegram: timed out waiting for %d %s call(s)%s\n" % (
                    args.count, args.method or "any", " containing %r" % args.contains
                    if args.contains else ""))
                return 1
            time.sleep(0.05)
    elif args.cmd == "calls":
        for c in read_calls(args.dir, args.method, args.contains):
            print(json.dumps(c, ensure_ascii=False))
    elif args.cmd == "button":
        kb = control(args.dir, "keyboard", None)
        print(kb[2]["inline_keyboard"][0][args.n]["callback_data"])
    elif args.cmd == "stop":
        try:
            control(args.dir, "stop", None)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

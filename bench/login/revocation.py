#!/usr/bin/env python3
"""Cross-instance revocation benchmark for bench/login/revocation.sh (Python standard library).

Two subcommands:

  upstream --port P
      A tiny HTTP/1.1 application (keep-alive, threads) answering every request with a short
      200; it echoes the X-Convergences-User request header back as X-Echo-User.

  measure --port1 P1 --port2 P2 --email E --password W --admin-email A --admin-password X
      Two gateways sharing one database and one Redis. For each iteration and each mode
      (logout, lock):
        1. a fresh browser logs in as E on instance 1 (GET + POST /login, 303 + session cookie);
        2. it performs the single sign-on handshake to the application host on instance 2
           (bench.localhost:P2 -> auth.localhost:P2/sso/authorize -> callback), which leaves a
           host-only convergences_app cookie;
        3. a proxied request through instance 2 with that cookie must answer 200 with
           X-Echo-User = E (instance 2 now holds the session in its short local cache);
        4. the session is revoked on instance 1: "logout" posts the logout form as E,
           "lock" has the administrator A post the lock form of E's account card (AIA);
        5. from the moment the revoking response is read, the same proxied request is sent to
           instance 2 again and again (--poll-interval ms apart; default back to back), on one
           keep-alive connection, until it answers 401;
           the time from the revoking response to that refusal is the sample;
        6. instance 2's portal must also send E's browser to the login form; after "lock",
           A unlocks the account for the next iteration.
      With --redis-url and --channel, a subscriber of its own also notes when each revocation
      event went through Redis (relative to the revoking response; negative: before it).
      Prints one JSON object: per mode the samples (ms), polls per sample, and failures.

Every connection goes to 127.0.0.1, on the port of the URL; cookies are kept per host name
(not per port), as a browser with *.localhost resolving to the loopback would.
"""
import argparse
import http.client
import http.server
import json
import math
import re
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')
USER_LINK = re.compile(r'href="/aia/utilisateurs/(\d+)"')


# --- upstream -----------------------------------------------------------------------------------


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: without TCP_NODELAY the body waits for the gateway's
    # delayed ACK (40 ms on Linux).
    disable_nagle_algorithm = True

    def answer(self, body):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        user = self.headers.get("X-Convergences-User")
        if user:
            self.send_header("X-Echo-User", user)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.answer("convergences bench upstream: ok\n")

    do_HEAD = do_GET

    def do_POST(self):  # noqa: N802
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.answer("ok\n")

    def log_message(self, *_):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def upstream(args):
    Server(("127.0.0.1", args.port), Echo).serve_forever()


# --- browser ------------------------------------------------------------------------------------


class Failure(Exception):
    pass


class Browser:
    """Cookie jar per host name, one keep-alive connection per port, manual redirects."""

    def __init__(self):
        self.jar = {}  # host -> {name: value}
        self.conns = {}

    def conn(self, port):
        c = self.conns.get(port)
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            self.conns[port] = c
        return c

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}

    def cookies_for(self, host):
        return self.jar.get(host, {})

    def store(self, host, headers):
        for line in headers.get_all("Set-Cookie") or []:
            parts = [p.strip() for p in line.split(";")]
            name, _, value = parts[0].partition("=")
            attrs = {}
            for p in parts[1:]:
                k, _, v = p.partition("=")
                attrs[k.strip().lower()] = v.strip()
            target = attrs.get("domain", "").lstrip(".") or host
            if attrs.get("domain") and not (host == target or host.endswith("." + target)):
                continue
            deleted = attrs.get("max-age") in ("0", "-1") or value == ""
            box = self.jar.setdefault(target, {})
            if deleted:
                box.pop(name.strip(), None)
            else:
                box[name.strip()] = value

    def request(self, method, url, form=None, html=True):
        u = urllib.parse.urlsplit(url)
        host = u.hostname or ""
        if not (host == "localhost" or host.endswith(".localhost")):
            raise Failure(f"refusing to leave the loopback: {url}")
        port = u.port or 80
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        headers = {"Host": u.netloc}
        if html:
            headers["Accept"] = "text/html"
        jar = {}
        for domain, box in self.jar.items():
            if host == domain or host.endswith("." + domain):
                jar.update(box)
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (0, 1):
            c = self.conn(port)
            try:
                c.request(method, path, body=body, headers=headers)
                resp = c.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                c.close()
                self.conns.pop(port, None)
                if attempt:
                    raise
        if (resp.getheader("Connection") or "").lower() == "close":
            c.close()
            self.conns.pop(port, None)
        self.store(host, resp.headers)
        return resp, data.decode("utf-8", "replace")

    def follow(self, url, limit=10):
        """GET, following redirects; returns (final response, body, final url)."""
        for _ in range(limit):
            resp, body = self.request("GET", url)
            if resp.status in (301, 302, 303, 307, 308):
                url = urllib.parse.urljoin(url, resp.getheader("Location") or "")
                continue
            return resp, body, url
        raise Failure(f"more than {limit} redirects from {url}")

    def csrf(self, url):
        resp, page = self.request("GET", url)
        if resp.status != 200:
            raise Failure(f"GET {url}: {resp.status}")
        m = CSRF_FIELD.search(page)
        if not m:
            raise Failure(f"no csrf field on {url}")
        return m.group(1)

    def login(self, portal, email, password):
        token = self.csrf(f"{portal}/login")
        resp, _ = self.request(
            "POST", f"{portal}/login", {"csrf": token, "email": email, "password": password}
        )
        if resp.status != 303 or "convergences_session" not in self.cookies_for(
            urllib.parse.urlsplit(portal).hostname
        ):
            raise Failure(f"login of {email} on {portal}: {resp.status}")


# --- Redis events -------------------------------------------------------------------------------


class EventWatch(threading.Thread):
    """A subscriber of the gateways' event channel of its own (raw RESP over a socket): when
    each revocation event went through Redis, to tell the publishing side from the applying
    side of a sample."""

    def __init__(self, url, channel):
        super().__init__(daemon=True)
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")
        if u.password:
            user = urllib.parse.unquote(u.username or "")
            args = ["AUTH", user, urllib.parse.unquote(u.password)] if user else ["AUTH", urllib.parse.unquote(u.password)]
            self.command(args)
            if not str(self.reply()).startswith("OK"):
                raise Failure("Redis AUTH refused")
        self.command(["SUBSCRIBE", channel])
        self.reply()  # ["subscribe", channel, 1]
        self.sock.settimeout(None)
        self.lock = threading.Lock()
        self.events = []  # (monotonic time, payload)

    def command(self, args):
        out = f"*{len(args)}\r\n"
        for a in args:
            b = a.encode()
            out += f"${len(b)}\r\n{a}\r\n"
        self.sock.sendall(out.encode())

    def reply(self):
        line = self.f.readline()
        if not line:
            raise EOFError
        kind, rest = line[:1], line[1:-2]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2].decode("utf-8", "replace")
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise Failure(f"unexpected Redis reply {line!r}")

    def run(self):
        try:
            while True:
                msg = self.reply()
                t = time.monotonic()
                if isinstance(msg, list) and len(msg) == 3 and msg[0] == "message":
                    with self.lock:
                        self.events.append((t, msg[2]))
        except (EOFError, OSError):
            return

    def first(self, since, predicate, wait):
        """Time of the first event after `since` whose payload satisfies `predicate`, waiting
        up to `wait` seconds for it; None if none came."""
        deadline = time.monotonic() + wait
        while True:
            with self.lock:
                for t, payload in self.events:
                    if t >= since and predicate(payload):
                        return t
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.001)


# --- measure ------------------------------------------------------------------------------------


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


class Probe:
    """The proxied request through instance 2, with only the application cookie, as an API
    client sends it (no Accept: text/html, so a refused session answers 401, not a redirect)."""

    def __init__(self, port, host, cookie):
        self.port = port
        self.headers = {"Host": host, "Cookie": cookie}
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def get(self):
        try:
            self.c.request("GET", "/", headers=self.headers)
            resp = self.c.getresponse()
            resp.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.c.close()
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self.c.request("GET", "/", headers=self.headers)
            resp = self.c.getresponse()
            resp.read()
        if (resp.getheader("Connection") or "").lower() == "close":
            self.c.close()
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        return resp

    def close(self):
        self.c.close()


def user_id(admin, portal, email):
    _, page = admin.request("GET", f"{portal}/aia/utilisateurs")
    for uid in dict.fromkeys(USER_LINK.findall(page)):
        _, card = admin.request("GET", f"{portal}/aia/utilisateurs/{uid}")
        if email in card and "/verrouillage" in card:
            return uid
    raise Failure(f"no account card with a lock form for {email} in {portal}/aia/utilisateurs")


def one(args, mode, admin, uid, watch):
    """One sample: returns (elapsed ms, polls, revoking request ms, probe round trip ms, event
    ms); elapsed is None after a timeout, event is None without a watcher or an event."""
    p1 = f"http://{args.portal_host}:{args.port1}"
    p2 = f"http://{args.portal_host}:{args.port2}"
    app2 = f"http://{args.app_host}:{args.port2}/"
    user = Browser()
    try:
        user.login(p1, args.email, args.password)
        resp, _, final = user.follow(app2)
        if resp.status != 200 or urllib.parse.urlsplit(final).hostname != args.app_host:
            raise Failure(f"single sign-on to {app2}: {resp.status} at {final}")
        app_cookie = user.cookies_for(args.app_host).get(args.app_cookie)
        if not app_cookie:
            raise Failure("no application cookie after the handshake on instance 2")
        # Everything the revocation needs is fetched before the last check.
        if mode == "logout":
            revoke_url, form = f"{p1}/logout", {"csrf": user.csrf(f"{p1}/logout")}
            actor = user
        else:
            card = f"{p1}/aia/utilisateurs/{uid}"
            revoke_url = f"{card}/verrouillage"
            form = {"csrf": admin.csrf(card), "verrouiller": "1"}
            actor = admin
        probe = Probe(args.port2, f"{args.app_host}:{args.port2}", f"{args.app_cookie}={app_cookie}")
        try:
            t = time.monotonic()
            r = probe.get()
            rtt = (time.monotonic() - t) * 1000.0
            if r.status != 200 or r.getheader("X-Echo-User") != args.email:
                raise Failure(
                    f"proxied request on instance 2 before revoking: {r.status}, "
                    f"X-Echo-User={r.getheader('X-Echo-User')!r}"
                )
            t_send = time.monotonic()
            resp, _ = actor.request("POST", revoke_url, form)
            t0 = time.monotonic()
            if resp.status != 303:
                raise Failure(f"{mode}: POST {revoke_url} answered {resp.status}")
            polls = 0
            elapsed = None
            while True:
                r = probe.get()
                t1 = time.monotonic()
                polls += 1
                if r.status == 401:
                    elapsed = (t1 - t0) * 1000.0
                    break
                if r.status != 200:
                    raise Failure(f"{mode}: instance 2 answered {r.status} while polling")
                if t1 - t0 > args.timeout:
                    break  # a timeout: counted, not a sample
                if args.poll_interval:
                    time.sleep(args.poll_interval / 1000.0)
        finally:
            probe.close()
        if elapsed is not None:
            # The portal of instance 2 sends the browser to the login form too.
            resp, _ = user.request("GET", f"{p2}/")
            loc = resp.getheader("Location") or ""
            if resp.status not in (302, 303) or "/login" not in loc:
                raise Failure(
                    f"{mode}: portal of instance 2 answered {resp.status} {loc!r} after the revocation"
                )
        if mode == "lock":
            resp, _ = admin.request(
                "POST", revoke_url, {"csrf": admin.csrf(f"{p1}/aia/utilisateurs/{uid}"), "verrouiller": "0"}
            )
            if resp.status != 303:
                raise Failure(f"unlock answered {resp.status}")
        event_ms = None
        if watch is not None:
            wanted = (lambda p: p.startswith("s:")) if mode == "logout" else (lambda p: p == f"r:{uid}")
            t_event = watch.first(t_send, wanted, 1.0)
            if t_event is not None:
                event_ms = (t_event - t0) * 1000.0
        return elapsed, polls, (t0 - t_send) * 1000.0, rtt, event_ms
    finally:
        user.close()


def measure(args):
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in ("logout", "lock"):
            raise SystemExit(f"unknown mode {m}")
    admin = Browser()
    p1 = f"http://{args.portal_host}:{args.port1}"
    uid = None
    if "lock" in modes:
        admin.login(p1, args.admin_email, args.admin_password)
        uid = user_id(admin, p1, args.email)
    watch = None
    if args.redis_url and args.channel:
        watch = EventWatch(args.redis_url, args.channel)
        watch.start()
    out = {
        m: {"samples_ms": [], "polls": [], "revoke_request_ms": [], "probe_rtt_ms": [], "event_ms": [], "timeouts": 0}
        for m in modes
    }
    for i in range(args.warmup + args.iterations):
        for m in modes:
            elapsed, polls, req_ms, rtt, event_ms = one(args, m, admin, uid, watch)
            if i < args.warmup:
                continue
            o = out[m]
            if elapsed is None:
                o["timeouts"] += 1
            else:
                o["samples_ms"].append(elapsed)
            o["polls"].append(polls)
            o["revoke_request_ms"].append(req_ms)
            o["probe_rtt_ms"].append(rtt)
            if event_ms is not None:
                o["event_ms"].append(event_ms)
        print(f"iteration {i + 1}/{args.warmup + args.iterations} done", file=sys.stderr, flush=True)
    admin.close()
    for m in modes:
        o = out[m]
        s = sorted(o["samples_ms"])
        o.update(
            {
                "n": len(s),
                "p50_ms": percentile(s, 50),
                "p99_ms": percentile(s, 99),
                "max_ms": s[-1] if s else float("nan"),
                "first_poll_refused": sum(1 for p in o["polls"] if p == 1),
                "revoke_request_p50_ms": percentile(sorted(o["revoke_request_ms"]), 50),
                "probe_rtt_p50_ms": percentile(sorted(o["probe_rtt_ms"]), 50),
                "events_seen": len(o["event_ms"]),
                "event_p50_ms": percentile(sorted(o["event_ms"]), 50),
                "event_max_ms": max(o["event_ms"]) if o["event_ms"] else float("nan"),
            }
        )
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("upstream")
    u.add_argument("--port", type=int, required=True)
    m = sub.add_parser("measure")
    m.add_argument("--port1", type=int, required=True)
    m.add_argument("--port2", type=int, required=True)
    m.add_argument("--email", required=True)
    m.add_argument("--password", required=True)
    m.add_argument("--admin-email", required=True)
    m.add_argument("--admin-password", required=True)
    m.add_argument("--iterations", type=int, default=50)
    m.add_argument("--warmup", type=int, default=2)
    m.add_argument("--modes", default="logout,lock")
    m.add_argument("--timeout", type=float, default=5.0, help="seconds before a sample counts as a timeout")
    m.add_argument("--poll-interval", type=float, default=0.0, help="ms to wait between polls (0: none)")
    m.add_argument("--portal-host", default="auth.localhost")
    m.add_argument("--app-host", default="bench.localhost")
    m.add_argument("--app-cookie", default="convergences_app")
    m.add_argument("--redis-url", help="to watch the revocation events (optional)")
    m.add_argument("--channel", help="the gateways' event channel: sessions.redis_prefix + 'events'")
    args = ap.parse_args()
    if args.cmd == "upstream":
        upstream(args)
        return
    if (
        not 0 < args.iterations <= 1000
        or not 0 <= args.warmup <= 100
        or not 0 < args.timeout <= 60
        or not 0 <= args.poll_interval <= 1000
    ):
        ap.error("iterations in (0, 1000], warmup in [0, 100], timeout in (0, 60], poll interval in [0, 1000]")
    try:
        measure(args)
    except Failure as e:
        print(f"revocation benchmark failed: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Login load generator for bench/login/run.sh (Python standard library only).

CLIENTS threads, one keep-alive connection each, loop for DURATION seconds over a complete
portal login: GET /login (CSRF cookie + form token), then POST /login with the credentials,
which must answer 303 with a session cookie. Prints one JSON object: logins, errors, logins/s,
latency percentiles of a complete login (ms), statuses of failures.
"""
import argparse
import http.client
import json
import math
import re
import threading
import time
import urllib.parse

CSRF_FIELD = re.compile(rb'name="csrf" value="([^"]*)"')


def cookie_value(headers, name):
    for line in headers.get_all("Set-Cookie") or []:
        first = line.split(";", 1)[0]
        k, _, v = first.partition("=")
        if k.strip() == name:
            return v.strip()
    return None


class Client(threading.Thread):
    def __init__(self, args, email, start, deadline):
        super().__init__(daemon=True)
        self.args, self.email, self.start_at, self.deadline = args, email, start, deadline
        self.latencies = []
        self.errors = {}
        self.conn = None

    def connect(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.args.port, timeout=30)

    def request(self, method, path, body=None, headers=None):
        h = {"Host": self.args.host, "Accept": "text/html"}
        h.update(headers or {})
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=h)
                resp = self.conn.getresponse()
                data = resp.read()
                if (resp.getheader("Connection") or "").lower() == "close":
                    self.connect()
                return resp, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.connect()
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def fail(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1

    def login_once(self):
        resp, page = self.request("GET", "/login")
        if resp.status != 200:
            return self.fail(f"GET /login {resp.status}")
        csrf_cookie = cookie_value(resp.headers, self.args.csrf_cookie)
        m = CSRF_FIELD.search(page)
        if not csrf_cookie or not m:
            return self.fail("no csrf cookie or field")
        body = urllib.parse.urlencode(
            {"csrf": m.group(1).decode(), "email": self.email, "password": self.args.password}
        )
        resp, _ = self.request(
            "POST",
            "/login",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"{self.args.csrf_cookie}={csrf_cookie}",
            },
        )
        if resp.status != 303:
            return self.fail(f"POST /login {resp.status}")
        if not cookie_value(resp.headers, self.args.session_cookie):
            return self.fail("303 without session cookie")
        return True

    def run(self):
        self.connect()
        while time.monotonic() < self.start_at:
            time.sleep(0.001)
        while True:
            t0 = time.monotonic()
            if t0 >= self.deadline:
                break
            try:
                ok = self.login_once()
            except Exception as e:  # noqa: BLE001 - counted, reported, and the loop goes on
                self.fail(type(e).__name__)
                self.connect()
                ok = False
            t1 = time.monotonic()
            if ok and t1 <= self.deadline:
                self.latencies.append((t1 - t0) * 1000.0)
        self.conn.close()


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    # Nearest rank.
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", required=True, help="Host header, e.g. auth.localhost:8080")
    ap.add_argument("--emails", required=True, help="comma-separated accounts, one per client in turn")
    ap.add_argument("--password", required=True)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--csrf-cookie", default="convergences_csrf")
    ap.add_argument("--session-cookie", default="convergences_session")
    args = ap.parse_args()
    if not 0 < args.duration <= 600 or not 0 < args.clients <= 500:
        ap.error("duration must be in (0, 600] and clients in (0, 500]")

    emails = args.emails.split(",")
    start = time.monotonic() + 0.2
    deadline = start + args.duration
    clients = [Client(args, emails[i % len(emails)], start, deadline) for i in range(args.clients)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(args.duration + 60)
    lat = sorted(x for c in clients for x in c.latencies)
    errors = {}
    for c in clients:
        for k, v in c.errors.items():
            errors[k] = errors.get(k, 0) + v
    print(
        json.dumps(
            {
                "logins": len(lat),
                "errors": sum(errors.values()),
                "error_kinds": errors,
                "logins_per_second": len(lat) / args.duration,
                "p50_ms": percentile(lat, 50),
                "p90_ms": percentile(lat, 90),
                "p99_ms": percentile(lat, 99),
                "max_ms": lat[-1] if lat else float("nan"),
            }
        )
    )


if __name__ == "__main__":
    main()

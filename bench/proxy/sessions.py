#!/usr/bin/env python3
"""Signs many users in for bench/proxy/run.sh (Python standard library).

  sessions.py --port P --email-format 'u{}@bench.example.fr' --count N --password W --out FILE

For each i in 1..N, a fresh browser logs in as the e-mail of i on the portal
(auth.localhost:P), performs the single sign-on handshake to bench.localhost:P, and the
value of its convergences_app cookie is written to FILE, one per line. THREADS browsers
work at once (the login's argon2id verification is the cost). Fails on the first error.
"""
import argparse
import concurrent.futures
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "login"))
from revocation import Browser, Failure  # noqa: E402  (the same browser as the other bench)


def sign_in(args, i):
    portal = f"http://auth.localhost:{args.port}"
    app = f"http://bench.localhost:{args.port}/"
    b = Browser()
    try:
        b.login(portal, args.email_format.format(i), args.password)
        resp, _, final = b.follow(app)
        if resp.status != 200 or urllib.parse.urlsplit(final).hostname != "bench.localhost":
            raise Failure(f"single sign-on of user {i}: {resp.status} at {final}")
        cookie = b.cookies_for("bench.localhost").get("convergences_app")
        if not cookie:
            raise Failure(f"no application cookie for user {i}")
        return cookie
    finally:
        b.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--email-format", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=4)
    args = p.parse_args()
    with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
        cookies = list(pool.map(lambda i: sign_in(args, i), range(1, args.count + 1)))
    if len(set(cookies)) != args.count:
        raise Failure("two users got the same application cookie")
    with open(args.out, "w", encoding="ascii") as f:
        f.write("\n".join(cookies) + "\n")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"sessions.py: {e}", file=sys.stderr)
        sys.exit(1)

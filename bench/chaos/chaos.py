#!/usr/bin/env python3
"""Chaos benchmark client (bench/chaos/run.sh starts everything and calls this).

`chaos.py upstream PORT NAME`: a keep-alive HTTP upstream answering 200 to everything.
`chaos.py run PLAN.json REPORT.md`: steady keep-alive load through the two gateway instances,
the faults of the plan one after the other, then the report (markdown) written to REPORT.md.

Python standard library only. Every process this program starts again after a fault is
written to the plan's `pidfile`, so that run.sh stops it on exit.
"""
import hashlib
import http.client
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

# ---------------------------------------------------------------- upstream


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    name = "upstream"
    # The header and the body are two writes: without TCP_NODELAY the body waits for the
    # proxy's delayed ACK (40 ms on Linux), which every latency figure would then measure.
    disable_nagle_algorithm = True

    def do_GET(self):
        body = ("ok %s\n" % self.name).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Echo-User", self.headers.get("X-Convergences-User", ""))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_upstream(port, name):
    Upstream.name = name
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Upstream)
    srv.daemon_threads = True
    srv.serve_forever()


# ---------------------------------------------------------------- helpers


def now():
    return time.monotonic()


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def ms(x):
    return "–" if x is None else ("%.1f" % (x * 1000))


def wait_port(port, limit=60):
    end = now() + limit
    while now() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def redis_cmd(port, *args):
    """One command over RESP; returns the first reply line."""
    msg = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a.encode()), a) for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(msg.encode())
        return s.recv(512).decode(errors="replace").split("\r\n")[0]


class Plan:
    def __init__(self, path):
        with open(path) as f:
            self.__dict__.update(json.load(f))
        self.lock = threading.Lock()

    def remember_pid(self, pid):
        with open(self.pidfile, "a") as f:
            f.write("%d\n" % pid)


def spawn(plan, service):
    # The gateway reads CONVERGENCES_* variables as configuration: only the plan's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVERGENCES_")}
    env.update(service.get("env", {}))
    log = open(service["log"], "ab")
    p = subprocess.Popen(service["cmd"], env=env, stdout=log, stderr=log, start_new_session=True)
    service["pid"] = p.pid
    plan.remember_pid(p.pid)
    return p


def kill(service):
    try:
        os.kill(service["pid"], signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(service["pid"], 0)
    except ChildProcessError:
        pass


# ---------------------------------------------------------------- sessions


def login(port, plan, email):
    """Portal login on one instance; returns the session token."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/login", headers={"Host": plan.portal_host, "Accept": "text/html"})
    r = c.getresponse()
    page = r.read().decode(errors="replace")
    if r.status != 200:
        raise RuntimeError("GET /login answered %d" % r.status)
    cookies = [h.split(";")[0] for k, h in r.getheaders() if k.lower() == "set-cookie"]
    m = re.search(r'name="csrf" value="([^"]*)"', page)
    if not m:
        raise RuntimeError("no csrf field on the login page")
    from urllib.parse import urlencode

    body = urlencode({"csrf": m.group(1), "email": email, "password": plan.password, "return_to": ""})
    c.request(
        "POST",
        "/login",
        body=body,
        headers={
            "Host": plan.portal_host,
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(cookies),
        },
    )
    r = c.getresponse()
    r.read()
    c.close()
    for k, h in r.getheaders():
        if k.lower() == "set-cookie" and h.startswith(plan.session_cookie + "="):
            return h.split(";")[0].split("=", 1)[1]
    raise RuntimeError("login answered %d without a session cookie" % r.status)


def revoke(plan, token):
    """What logging out on another instance does: the session leaves Redis, then the event."""
    key = hashlib.sha256(token.encode()).hexdigest()
    redis_cmd(plan.redis_port, "DEL", plan.prefix + "s:" + key)
    redis_cmd(plan.redis_port, "PUBLISH", plan.prefix + "events", "s:" + key)


# ---------------------------------------------------------------- load


class Recorder:
    def __init__(self):
        self.rows = []  # (start, end, instance, status, kind)
        self.lock = threading.Lock()
        self.lost = 0
        self.victims = {}  # fault name -> (revoked_at, token)

    def add(self, row):
        with self.lock:
            self.rows.append(row)


def client_loop(plan, rec, idx, stop, home, token_box, kind):
    """One keep-alive client. `home` is its instance (0 or 1); on a connection failure it goes
    to the other instance for 2 s, as a load balancer would."""
    conns = [None, None]
    away_until = 0.0
    while not stop.is_set():
        inst = home if now() >= away_until else 1 - home
        port = plan.instances[inst]["port"]
        token = token_box[0]
        if token is None:
            time.sleep(0.05)
            continue
        t0 = now()
        status = "err"
        try:
            if conns[inst] is None:
                conns[inst] = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c = conns[inst]
            c.request("GET", "/", headers={"Host": plan.app_host, "Cookie": "%s=%s" % (plan.session_cookie, token)})
            r = c.getresponse()
            r.read()
            status = r.status
            if r.getheader("Connection", "").lower() == "close":
                c.close()
                conns[inst] = None
        except (OSError, http.client.HTTPException):
            if conns[inst] is not None:
                conns[inst].close()
            conns[inst] = None
            away_until = now() + 2.0
        t1 = now()
        rec.add((t0, t1, inst, status, kind))
        if status == "err":
            time.sleep(0.01)
        if kind == "load" and status == 401:
            # The session is gone (lost by the store): count it, log in again.
            with rec.lock:
                rec.lost += 1
            token_box[0] = None
            while not stop.is_set():
                try:
                    token_box[0] = login(plan.instances[0]["port"], plan, plan.email)
                    break
                except (OSError, RuntimeError, http.client.HTTPException):
                    time.sleep(0.5)
        if kind != "load":
            time.sleep(0.02)


def sampler(plan, stop, samples):
    """Every 0.25 s: RSS and open descriptors of each gateway process."""
    while not stop.is_set():
        t = now()
        for i, inst in enumerate(plan.instances):
            pid = inst["pid"]
            try:
                with open("/proc/%d/status" % pid) as f:
                    rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
                fds = len(os.listdir("/proc/%d/fd" % pid))
                samples.append((t, i, rss, fds))
            except (OSError, AttributeError):
                pass
        time.sleep(0.25)


# ---------------------------------------------------------------- faults


def fault_redis(plan, rec, t_start):
    # The victim's revocation comes right before the outage; it must hold through it.
    revoke(plan, plan.victim_tokens["redis"])
    rec.victims["redis"] = now()
    kill(plan.redis)
    down = now()
    time.sleep(plan.down)
    spawn(plan, plan.redis)
    wait_port(plan.redis_port)
    return down, now()


def fault_postgres(plan, rec, t_start):
    subprocess.run(plan.postgres["stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    down = now()
    time.sleep(1.0)
    # Revoked during the outage (the session store is up): refused from then on.
    revoke(plan, plan.victim_tokens["postgres"])
    rec.victims["postgres"] = now()
    time.sleep(max(0.0, plan.db_down - 1.0))
    subprocess.run(plan.postgres["start"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return down, now()


def fault_upstream(plan, rec, t_start):
    up = plan.upstreams[1]
    kill(up)
    down = now()
    time.sleep(1.0)
    revoke(plan, plan.victim_tokens["upstream"])
    rec.victims["upstream"] = now()
    time.sleep(max(0.0, plan.down - 1.0))
    spawn(plan, up)
    wait_port(up["port"])
    return down, now()


def fault_gateway(plan, rec, t_start):
    inst = plan.instances[1]
    kill(inst)
    down = now()
    time.sleep(1.0)
    revoke(plan, plan.victim_tokens["gateway"])
    rec.victims["gateway"] = now()
    time.sleep(max(0.0, plan.down - 1.0))
    spawn(plan, inst)
    wait_port(inst["port"])
    return down, now()


FAULTS = [
    ("redis", "Redis killed (SIGKILL), restarted", fault_redis),
    ("postgres", "PostgreSQL killed (pg_ctl stop -m immediate), restarted", fault_postgres),
    ("upstream", "upstream 2 of 2 killed (SIGKILL), restarted", fault_upstream),
    ("gateway", "gateway instance 2 killed (SIGKILL), restarted", fault_gateway),
]


# ---------------------------------------------------------------- report


def summarise(plan, rec, samples, windows, t0, out):
    rows = sorted(rec.rows)
    w = out.write
    w("Per second (all instances; `err`: connection refused or reset, the client then tries the other instance):\n\n")
    w("| s | phase | 200 | 503 | 401 | other | err | p50 ms | p99 ms |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
    last = int(max(r[1] for r in rows) - t0) + 1 if rows else 0
    by_sec = {}
    for r in rows:
        if r[4] != "load":
            continue
        by_sec.setdefault(int(r[0] - t0), []).append(r)
    for s in range(last):
        rs = by_sec.get(s, [])
        phase = ""
        for name, (a, b, _, _) in windows.items():
            if a - t0 <= s + 0.5 < b - t0:
                phase = name + " down"
        cnt = lambda f: sum(1 for r in rs if f(r[3]))
        lat = [r[1] - r[0] for r in rs if r[3] != "err"]
        w("| %d | %s | %d | %d | %d | %d | %d | %s | %s |\n" % (
            s, phase, cnt(lambda x: x == 200), cnt(lambda x: x == 503), cnt(lambda x: x == 401),
            cnt(lambda x: x not in (200, 503, 401, "err")), cnt(lambda x: x == "err"),
            ms(percentile(lat, 50)), ms(percentile(lat, 99))))
    w("\nPer fault:\n\n")
    w("| fault | outage s | answers during it (by status) | answered/s | p99 ms | p99 ms after 1st s | unchecked (200 to the revoked session ≥ 1 s after its revocation) | 200 to it within 1 s | recovery s | RSS peak MiB (inst 1 / 2) | fds peak (inst 1 / 2) |\n")
    w("|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|\n")
    total_unchecked = 0
    base = [s for s in samples if s[0] < min(v[0] for v in windows.values())]
    for name, desc, _ in FAULTS:
        if name not in windows:
            continue
        a, b, settle_end, _ = windows[name]
        during = [r for r in rows if a <= r[0] < b and r[4] == "load"]
        statuses = {}
        for r in during:
            statuses[str(r[3])] = statuses.get(str(r[3]), 0) + 1
        lat = [r[1] - r[0] for r in during if r[3] != "err"]
        lat_late = [r[1] - r[0] for r in during if r[3] != "err" and r[0] >= a + 1.0]
        answered = sum(1 for r in during if r[3] != "err")
        revoked = rec.victims.get(name)
        victim_rows = [r for r in rows if r[4] == "victim-" + name]
        unchecked = sum(1 for r in victim_rows if revoked and r[0] >= revoked + 1.0 and r[3] == 200)
        early = sum(1 for r in victim_rows if revoked and revoked <= r[0] < revoked + 1.0 and r[3] == 200)
        total_unchecked += unchecked
        # Recovery: per instance, the first request started after the restart that got a 200
        # with no failure after it in the settle window; the later of the two instances.
        rec_s = 0.0
        for inst in (0, 1):
            # (Answered before the next fault began: its first victims are not this one's.)
            after = [r for r in rows if r[4] == "load" and r[2] == inst and b <= r[0] and r[1] < settle_end]
            bad = [r for r in after if r[3] != 200]
            if bad:
                last_bad = max(r[0] for r in bad)
                good = [r for r in after if r[3] == 200 and r[0] > last_bad]
                first_good = min((r[1] for r in good), default=settle_end)
                rec_s = max(rec_s, first_good - b)
        peaks = []
        for i in (0, 1):
            ss = [s for s in samples if a <= s[0] < settle_end and s[1] == i]
            peaks.append((max((s[2] for s in ss), default=0) / 1024.0, max((s[3] for s in ss), default=0)))
        w("| %s | %.1f | %s | %.0f | %s | %s | **%d** | %d | %.2f | %.0f / %.0f | %d / %d |\n" % (
            desc, b - a, ", ".join("%s: %d" % kv for kv in sorted(statuses.items())), answered / max(b - a, 0.001),
            ms(percentile(lat, 99)), ms(percentile(lat_late, 99)), unchecked, early, rec_s,
            peaks[0][0], peaks[1][0], peaks[0][1], peaks[1][1]))
    bpk = [(max((s[2] for s in base if s[1] == i), default=0) / 1024.0, max((s[3] for s in base if s[1] == i), default=0)) for i in (0, 1)]
    w("\nBefore the faults: RSS peak %.0f / %.0f MiB, descriptors peak %d / %d (instances 1 / 2).\n" % (bpk[0][0], bpk[1][0], bpk[0][1], bpk[1][1]))
    w("Sessions lost (a load client's session refused with 401 and logged in again): **%d** of %d.\n" % (rec.lost, plan.clients))
    w("Requests let through unchecked over all faults: **%d** (target 0).\n" % total_unchecked)
    return total_unchecked


def run(plan_path, report_path):
    plan = Plan(plan_path)
    rec = Recorder()
    stop = threading.Event()
    samples = []
    # Sessions: one per load client, one victim per fault, all opened on instance 1.
    tokens = [[login(plan.instances[0]["port"], plan, plan.email)] for _ in range(plan.clients)]
    plan.victim_tokens = {name: login(plan.instances[0]["port"], plan, plan.victim_email) for name, _, _ in FAULTS}
    threads = [threading.Thread(target=sampler, args=(plan, stop, samples), daemon=True)]
    for i in range(plan.clients):
        threads.append(threading.Thread(target=client_loop, args=(plan, rec, i, stop, i % 2, tokens[i], "load"), daemon=True))
    # Two clients per victim session (one on each instance).
    for name, _, _ in FAULTS:
        box = [plan.victim_tokens[name]]
        for inst in (0, 1):
            threads.append(threading.Thread(target=client_loop, args=(plan, rec, 100, stop, inst, box, "victim-" + name), daemon=True))
    t0 = now()
    for t in threads:
        t.start()
    time.sleep(plan.warmup)
    windows = {}
    for name, desc, fault in FAULTS:
        if name not in plan.faults:
            continue
        print("[chaos] %s" % desc, file=sys.stderr)
        a, b = fault(plan, rec, t0)
        time.sleep(plan.settle)
        windows[name] = (a, b, now(), desc)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    with open(report_path, "w") as out:
        unchecked = summarise(plan, rec, samples, windows, t0, out)
    # Raw answers, for a closer look (kept with BENCH_KEEP_TMP=1).
    with open(os.path.join(os.path.dirname(report_path), "answers.csv"), "w") as f:
        f.write("start_s,end_s,instance,status,kind\n")
        for r in sorted(rec.rows):
            f.write("%.4f,%.4f,%d,%s,%s\n" % (r[0] - t0, r[1] - t0, r[2] + 1, r[3], r[4]))
        for name, (a, b, c, _) in windows.items():
            f.write("# %s: down %.3f, back %.3f, settled %.3f\n" % (name, a - t0, b - t0, c - t0))
    return 1 if unchecked else 0


if __name__ == "__main__":
    if sys.argv[1] == "upstream":
        serve_upstream(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], sys.argv[3]))
    else:
        sys.exit("usage: chaos.py upstream PORT NAME | run PLAN.json REPORT.md")

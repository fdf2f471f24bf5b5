#!/usr/bin/env python3
"""A small Kubernetes API emulator for fluxsight's end-to-end tests (stdlib only).

Serves on 127.0.0.1 (random port, printed as {"port": N} on stdout):
  - /api, /apis, /version (minimal discovery)
  - lists and watches (?watch=true: chunked JSON lines, resourceVersion resume,
    BOOKMARK events every second, a 410 Gone ERROR event on demand) for
    pods in a namespace, events (all namespaces) and the served Flux kinds
  - apps/v1 deployments, replicasets, statefulsets, daemonsets; batch/v1 jobs,
    cronjobs; v1 persistentvolumeclaims: lists and GETs of one object (404 Status)
  - lists honour labelSelector (`a=b,c!=d,e in (x,y),f notin (z),g,!h`),
    fieldSelector (`involvedObject.name=x,involvedObject.kind=Pod`: any dotted
    path, `=`, `==`, `!=`), limit and continue
  - pods/<pod>/log?follow=true&timestamps=true[&sinceTime=][&previous=true][&tailLines=]
  - /metrics (the scrape target: pods report podIP 127.0.0.1)

Controlled through stdin, one JSON command per line; each gets one JSON reply line on
stdout. Commands: log, previous_log, apply, event, cut_logs, cut_watches, gone, stats
(lists, watches, log and total requests, pod lists/watches per namespace; `by_resource`:
per resource, lists, gets, watches and forbidden answers; `queries`: each list, get and
watch with its namespace, name, labelSelector, fieldSelector and limit, the last 2000),
restart_container (`reason`: OOMKilled unless given; `ago_s`: exit time in the past),
forbid / allow (`resource`, e.g. "pods": every request for it answers 403 Forbidden
with a Kubernetes Status body, until allowed again), delay (`resource`, `seconds`: each
list or get of it waits that long before answering; 0 removes it). `stats` also has
`max_in_flight`: the most list and get requests of those resources served at once.
"""
import json
import re
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Condition()
STATE = {
    "rv": 100,
    # resource key -> {"objs": {(ns, name): obj}, "history": [(rv, type, obj)]}
    "res": {},
    # (pod, container) -> [(ts_ns, line)]
    "logs": {},
    "previous": {},
    "log_gen": 0,
    "watch_gen": 0,
    "gone": set(),
    "lists": {},
    "watches": {},
    "log_requests": 0,
    "requests": 0,
    # namespace -> lists and watches of pods there
    "pod_namespaces": {},
    "last_ts": 0,
    # resource -> {"list": n, "get": n, "watch": n, "forbidden": n}
    "by_resource": {},
    "queries": [],
    "forbidden": set(),
    # resource -> seconds each list/get waits before answering
    "delay": {},
    "in_flight": 0,
    "max_in_flight": 0,
}
MAX_QUERIES = 2000

SERVED = {
    ("", "v1", "pods"): "Pod",
    ("", "v1", "events"): "Event",
    ("source.toolkit.fluxcd.io", "v1", "gitrepositories"): "GitRepository",
    ("source.toolkit.fluxcd.io", "v1", "helmrepositories"): "HelmRepository",
    ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"): "Kustomization",
    ("helm.toolkit.fluxcd.io", "v2", "helmreleases"): "HelmRelease",
}
# Workloads and what hangs off them (the lookups after a health-check failure).
SERVED.update({
    ("apps", "v1", "deployments"): "Deployment",
    ("apps", "v1", "replicasets"): "ReplicaSet",
    ("apps", "v1", "statefulsets"): "StatefulSet",
    ("apps", "v1", "daemonsets"): "DaemonSet",
    ("batch", "v1", "jobs"): "Job",
    ("batch", "v1", "cronjobs"): "CronJob",
    ("", "v1", "persistentvolumeclaims"): "PersistentVolumeClaim",
})
# Served as v1beta2 only: exercises the version fallback.
SERVED[("source.toolkit.fluxcd.io", "v1beta2", "buckets")] = "Bucket"


# Object timestamps near the present: a capture spanning months would make replay
# walk its clock across all of it.
STARTED = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_ns():
    with LOCK:
        t = max(time.time_ns(), STATE["last_ts"] + 1000)
        STATE["last_ts"] = t
        return t


def rfc3339(ns):
    dt = datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (ns % 1_000_000_000)


def parse_ts(s):
    s = s.rstrip("Z")
    frac = 0
    if "." in s:
        s, f = s.split(".", 1)
        frac = int((f + "000000000")[:9])
    dt = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + frac


def res(key):
    return STATE["res"].setdefault(key, {"objs": {}, "history": []})


def apply(key, obj, typ=None):
    """Stores obj under key, bumping resourceVersion; returns the rv. Caller holds LOCK."""
    STATE["rv"] += 1
    rv = STATE["rv"]
    group, version, _ = key
    obj.setdefault("apiVersion", f"{group}/{version}" if group else version)
    obj.setdefault("kind", SERVED[key])
    md = obj.setdefault("metadata", {})
    md["resourceVersion"] = str(rv)
    md.setdefault("uid", f"uid-{md.get('namespace', '')}-{md['name']}")
    r = res(key)
    k = (md.get("namespace", ""), md["name"])
    if typ is None:
        typ = "MODIFIED" if k in r["objs"] else "ADDED"
    if typ == "DELETED":
        r["objs"].pop(k, None)
    else:
        r["objs"][k] = obj
    r["history"].append((rv, typ, json.loads(json.dumps(obj))))
    LOCK.notify_all()
    return rv


def pod(name, app, restarts=0):
    return {
        "metadata": {
            "name": name,
            "namespace": "flux-system",
            "labels": {"app": app, "app.kubernetes.io/part-of": "flux"},
        },
        "spec": {"containers": [{"name": "manager", "image": f"ghcr.io/fluxcd/{app}"}]},
        "status": {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "containerStatuses": [
                {
                    "name": "manager",
                    "ready": True,
                    "restartCount": restarts,
                    "image": f"ghcr.io/fluxcd/{app}",
                    "imageID": "",
                    "state": {"running": {"startedAt": STARTED}},
                }
            ],
        },
    }


def seed():
    with LOCK:
        apply(("", "v1", "pods"), pod("source-controller-6d5c8b7f9-abcde", "source-controller"))
        apply(("", "v1", "pods"), pod("kustomize-controller-7f8d9c6b5-fghij", "kustomize-controller"))
        # A pod that is not a Flux controller: never followed.
        apply(("", "v1", "pods"), {
            "metadata": {"name": "other-1", "namespace": "flux-system", "labels": {"app": "other"}},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": "127.0.0.1"},
        })
        apply(("source.toolkit.fluxcd.io", "v1", "gitrepositories"), {
            "metadata": {"name": "payments-config", "namespace": "payments"},
            "spec": {"url": "https://github.com/example-payments/payments-config", "interval": "1m"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                                        "message": "stored artifact", "lastTransitionTime": STARTED}]},
        })
        for n in ("payments-app", "payments-infra"):
            apply(("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"), {
                "metadata": {"name": n, "namespace": "payments"},
                "spec": {"interval": "10m", "path": "./" + n, "prune": True,
                         "sourceRef": {"kind": "GitRepository", "name": "payments-config"}},
                "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                                            "message": "Applied revision", "lastTransitionTime": STARTED}]},
            })


def split_terms(text):
    """Splits a selector at commas outside parentheses."""
    parts, cur, depth = [], "", 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def label_matcher(text):
    """A predicate over a labels dict; ValueError on a selector it cannot read."""
    preds = []
    for t in split_terms(text):
        m = re.fullmatch(r"([A-Za-z0-9./_-]+)\s+(in|notin)\s+\(([^)]*)\)", t)
        if m:
            k, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                preds.append(lambda l, k=k, vals=vals: l.get(k) in vals)
            else:
                preds.append(lambda l, k=k, vals=vals: l.get(k) not in vals)
        elif "!=" in t:
            k, v = t.split("!=", 1)
            preds.append(lambda l, k=k.strip(), v=v.strip(): l.get(k) != v)
        elif "=" in t:
            k, v = t.replace("==", "=").split("=", 1)
            preds.append(lambda l, k=k.strip(), v=v.strip(): l.get(k) == v)
        elif t.startswith("!"):
            preds.append(lambda l, k=t[1:].strip(): k not in l)
        elif re.fullmatch(r"[A-Za-z0-9./_-]+", t):
            preds.append(lambda l, k=t: k in l)
        else:
            raise ValueError(f"unparsable label selector term {t!r}")
    return lambda labels: all(p(labels or {}) for p in preds)


def field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    return "" if cur is None else str(cur)


def field_matcher(text):
    """A predicate over an object for a field selector (`a.b=x,c!=y`)."""
    preds = []
    for t in split_terms(text):
        if "!=" in t:
            k, v = t.split("!=", 1)
            preds.append(lambda o, k=k.strip(), v=v.strip(): field_value(o, k) != v)
        elif "=" in t:
            k, v = t.replace("==", "=").split("=", 1)
            preds.append(lambda o, k=k.strip(), v=v.strip(): field_value(o, k) == v)
        else:
            raise ValueError(f"unparsable field selector term {t!r}")
    return lambda o: all(p(o) for p in preds)


def count_request(resource, verb, ns, name, q, forbidden=False):
    """Per-resource request counts and the query log. Caller holds LOCK."""
    r = STATE["by_resource"].setdefault(resource, {"list": 0, "get": 0, "watch": 0, "forbidden": 0})
    r[verb] += 1
    if forbidden:
        r["forbidden"] += 1
    STATE["queries"].append({
        "verb": verb, "resource": resource, "namespace": ns, "name": name,
        "labelSelector": q.get("labelSelector"), "fieldSelector": q.get("fieldSelector"),
        "limit": int(q["limit"]) if q.get("limit") else None, "forbidden": forbidden})
    del STATE["queries"][:-MAX_QUERIES]


def find_key(path):
    """Maps a request path to (key, namespace, name, subresource) or None."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    ns = None
    if len(rest) >= 2 and rest[0] == "namespaces":
        ns, rest = rest[1], rest[2:]
    if not rest:
        return None
    key = (group, version, rest[0])
    if key not in SERVED:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return key, ns, name, sub


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def start_chunked(self, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data):
        if not data:
            return
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.wfile.flush()

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def abort(self):
        """Closes the connection without ending the body: a broken stream."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(2)
        except OSError:
            pass

    def not_found(self):
        self.send_json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": "NotFound", "code": 404, "message": "the server could not find the requested resource"})

    def forbidden(self, key, verb, ns):
        group = key[0]
        where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
        self.send_json(403, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                             "message": f'{key[2]} is forbidden: User "system:serviceaccount:flux-system:fluxsight" '
                                        f'cannot {verb} resource "{key[2]}" in API group "{group}"{where}',
                             "reason": "Forbidden", "details": {"kind": key[2], **({"group": group} if group else {})},
                             "code": 403})

    def serve_timed(self, key, ns, name, q):
        """A get or list, after the resource's delay; counted while in flight."""
        with LOCK:
            STATE["in_flight"] += 1
            STATE["max_in_flight"] = max(STATE["max_in_flight"], STATE["in_flight"])
            delay = STATE["delay"].get(key[2], 0)
        try:
            if delay:
                time.sleep(delay)
            if name is not None:
                return self.serve_get(key, ns, name)
            if key[2] == "pods":
                with LOCK:
                    pn = STATE["pod_namespaces"]
                    pn[ns or ""] = pn.get(ns or "", 0) + 1
            return self.serve_list(key, ns, q)
        finally:
            with LOCK:
                STATE["in_flight"] -= 1

    def serve_get(self, key, ns, name):
        with LOCK:
            obj = res(key)["objs"].get((ns or "", name))
            obj = json.loads(json.dumps(obj)) if obj is not None else None
        if obj is None:
            group = key[0]
            full = f"{key[2]}.{group}" if group else key[2]
            return self.send_json(404, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                        "message": f'{full} "{name}" not found', "reason": "NotFound",
                                        "details": {"name": name, "group": group, "kind": key[2]}, "code": 404})
        self.send_json(200, obj)

    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        with LOCK:
            STATE["requests"] += 1
        if u.path == "/metrics":
            body = (
                "# HELP workqueue_depth Current depth of workqueue\n"
                'workqueue_depth{name="gitrepository"} 3\n'
                "process_resident_memory_bytes 5.2e+07\n"
                "go_goroutines 40\n"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if u.path == "/version":
            return self.send_json(200, {"major": "1", "minor": "34", "gitVersion": "v1.34.0-emulator"})
        if u.path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"]})
        if u.path == "/apis":
            groups = sorted({(g, v) for (g, v, _) in SERVED if g})
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                 "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups]})
        m = find_key(u.path)
        if m is None:
            return self.not_found()
        key, ns, name, sub = m
        try:
            if sub == "log":
                return self.serve_log(ns, name, q)
            if sub is not None:
                return self.not_found()
            watch = q.get("watch") in ("true", "1")
            verb = "get" if name is not None else ("watch" if watch else "list")
            with LOCK:
                # "pods" forbids everywhere; "pods/shop" in one namespace (a RoleBinding
                # scope), as multi-tenant clusters grant.
                denied = key[2] in STATE["forbidden"] or f"{key[2]}/{ns}" in STATE["forbidden"]
                count_request(key[2], verb, ns, name, q, denied)
            if denied:
                return self.forbidden(key, verb, ns)
            if name is not None or verb == "list":
                return self.serve_timed(key, ns, name, q)
            if key[2] == "pods":
                with LOCK:
                    pn = STATE["pod_namespaces"]
                    pn[ns or ""] = pn.get(ns or "", 0) + 1
            return self.serve_watch(key, ns, q)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def serve_list(self, key, ns, q):
        try:
            labels = label_matcher(q.get("labelSelector", ""))
            fields = field_matcher(q.get("fieldSelector", ""))
        except ValueError as e:
            return self.send_json(400, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                        "message": str(e), "reason": "BadRequest", "code": 400})
        with LOCK:
            STATE["lists"][key[2]] = STATE["lists"].get(key[2], 0) + 1
            items = [o for (ons, _), o in sorted(res(key)["objs"].items())
                     if (ns is None or ons == ns) and labels(o["metadata"].get("labels")) and fields(o)]
            items = json.loads(json.dumps(items))
            rv = STATE["rv"]
        meta = {"resourceVersion": str(rv)}
        start = int(q.get("continue") or 0)
        limit = int(q.get("limit") or 0)
        if start:
            items = items[start:]
        if limit and len(items) > limit:
            meta["continue"] = str(start + limit)
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        self.send_json(200, {"kind": SERVED[key] + "List", "apiVersion": "v1",
                             "metadata": meta, "items": items})

    def serve_watch(self, key, ns, q):
        since = int(q.get("resourceVersion") or 0)
        timeout = time.time() + float(q.get("timeoutSeconds") or 290)
        with LOCK:
            STATE["watches"][key[2]] = STATE["watches"].get(key[2], 0) + 1
            gen = STATE["watch_gen"]
        self.start_chunked("application/json")
        last_bookmark = time.time()
        while True:
            with LOCK:
                if key[2] in STATE["gone"]:
                    STATE["gone"].discard(key[2])
                    err = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                                       "status": "Failure", "message": "too old resource version",
                                                       "reason": "Expired", "code": 410}}
                    self.chunk((json.dumps(err) + "\n").encode())
                    self.end_chunked()
                    return
                if STATE["watch_gen"] != gen:
                    self.abort()
                    return
                cur_rv = STATE["rv"]
                evs = [(rv, t, o) for rv, t, o in res(key)["history"]
                       if rv > since and (ns is None or o["metadata"].get("namespace") == ns)]
                if not evs:
                    LOCK.wait(0.2)
                    evs = []
            for rv, t, o in evs:
                self.chunk((json.dumps({"type": t, "object": o}) + "\n").encode())
                since = rv
            if time.time() - last_bookmark >= 1.0:
                rv = cur_rv
                if q.get("allowWatchBookmarks") == "true":
                    bm = {"type": "BOOKMARK", "object": {"kind": SERVED[key], "apiVersion": "v1",
                                                         "metadata": {"resourceVersion": str(rv)}}}
                    self.chunk((json.dumps(bm) + "\n").encode())
                    # Only events after the bookmark are new to the client.
                    since = max(since, rv)
                last_bookmark = time.time()
            if time.time() > timeout:
                self.end_chunked()
                return

    def serve_log(self, ns, pod_name, q):
        container = q.get("container", "manager")
        with LOCK:
            STATE["log_requests"] += 1
            if ("", "v1", "pods") not in STATE["res"] or (ns, pod_name) not in res(("", "v1", "pods"))["objs"]:
                return self.not_found()
            gen = STATE["log_gen"]
        since = parse_ts(q["sinceTime"]) if "sinceTime" in q else 0
        follow = q.get("follow") == "true"
        stamps = q.get("timestamps") == "true"

        def fmt(ts, line):
            return ((rfc3339(ts) + " " if stamps else "") + line + "\n").encode()

        self.start_chunked("text/plain")
        if q.get("previous") == "true":
            with LOCK:
                lines = list(STATE["previous"].get((pod_name, container), []))
            tail = int(q.get("tailLines") or len(lines))
            for ts, line in lines[-tail:] if tail else []:
                self.chunk(fmt(ts, line))
            self.end_chunked()
            return
        sent = 0
        while True:
            with LOCK:
                lines = STATE["logs"].get((pod_name, container), [])
                new = [(ts, l) for ts, l in lines[sent:]]
                cut = STATE["log_gen"] != gen
                if not new and not cut and follow:
                    LOCK.wait(0.2)
            for ts, line in new:
                sent += 1
                if ts >= since:
                    self.chunk(fmt(ts, line))
            if cut:
                # A broken stream, cut in the middle of the line that comes next.
                self.chunk(b"2026-")
                self.abort()
                return
            if not follow:
                self.end_chunked()
                return


def command(c):
    op = c["op"]
    with LOCK:
        if op == "log":
            ids = []
            for line in c["lines"]:
                ts = max(time.time_ns(), STATE["last_ts"] + 1000)
                if c.get("same_ts") and STATE["last_ts"]:
                    ts = STATE["last_ts"]
                STATE["last_ts"] = ts
                STATE["logs"].setdefault((c["pod"], c.get("container", "manager")), []).append((ts, line))
                ids.append(rfc3339(ts))
            LOCK.notify_all()
            return {"ok": True, "ts": ids}
        if op == "previous_log":
            STATE["previous"][(c["pod"], c.get("container", "manager"))] = [
                (parse_ts(ts), line) for ts, line in c["lines"]]
            return {"ok": True}
        if op == "restart_container":
            p = json.loads(json.dumps(res(("", "v1", "pods"))["objs"][("flux-system", c["pod"])]))
            st = p["status"]["containerStatuses"][0]
            st["restartCount"] += 1
            reason = c.get("reason", "OOMKilled")
            # `ago_s`: the exit happened that many seconds ago (restarts spread in time).
            exit_ns = time.time_ns() - int(c.get("ago_s", 0) * 1e9)
            finished = rfc3339(exit_ns)
            st["state"] = {"running": {"startedAt": rfc3339(exit_ns + 1_000_000_000)}}
            st["lastState"] = {"terminated": {
                "reason": reason, "exitCode": 137 if reason == "OOMKilled" else 1,
                "finishedAt": finished}}
            return {"ok": True, "rv": apply(("", "v1", "pods"), p)}
        if op == "apply":
            key = tuple(c["key"])
            return {"ok": True, "rv": apply(key, c["object"], c.get("type"))}
        if op == "event":
            return {"ok": True, "rv": apply(("", "v1", "events"), c["object"])}
        if op == "cut_logs":
            STATE["log_gen"] += 1
            LOCK.notify_all()
            return {"ok": True}
        if op == "cut_watches":
            STATE["watch_gen"] += 1
            LOCK.notify_all()
            return {"ok": True}
        if op == "gone":
            STATE["gone"].add(c["resource"])
            LOCK.notify_all()
            return {"ok": True}
        if op == "forbid":
            STATE["forbidden"].add(c["resource"])
            return {"ok": True}
        if op == "allow":
            STATE["forbidden"].discard(c["resource"])
            return {"ok": True}
        if op == "delay":
            STATE["delay"][c["resource"]] = float(c["seconds"])
            return {"ok": True}
        if op == "stats":
            return {"ok": True, "lists": STATE["lists"], "watches": STATE["watches"],
                    "log_requests": STATE["log_requests"], "rv": STATE["rv"],
                    "requests": STATE["requests"], "pod_namespaces": STATE["pod_namespaces"],
                    "by_resource": STATE["by_resource"], "queries": STATE["queries"],
                    "max_in_flight": STATE["max_in_flight"]}
    return {"ok": False, "error": f"unknown op {op}"}


def main():
    seed()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(json.dumps({"port": srv.server_address[1]}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            reply = command(json.loads(line))
        except Exception as e:  # a bad command must not kill the emulator
            reply = {"ok": False, "error": repr(e)}
        print(json.dumps(reply), flush=True)
    srv.shutdown()


if __name__ == "__main__":
    main()

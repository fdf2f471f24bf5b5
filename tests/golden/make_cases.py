#!/usr/bin/env python3
"""Writes every golden replay case: tests/golden/<case>/input.log.

    python3 tests/golden/make_cases.py          # (re)write all inputs
    FLUXSIGHT_BLESS=1 cargo test --test golden_replay   # then re-bless after review

Deterministic (no clock, no randomness beyond a fixed-seed generator), Python 3 stdlib
only. Every pattern of taxonomy.md §2 has a `<pattern>_fires` case and a
`<pattern>_near_miss` case (just under a threshold, or the healthy look-alike), plus a few
cross-cutting cases. A case directory ending in `_audit` is replayed with `--audit`.

Wording follows the Flux controllers (reference/flux-catalog.md §2, §3); layouts are the
current zap JSON layout unless a case is about other envelopes or layouts.
"""

import hashlib
import json
import os
import random
import shutil
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = datetime(2025, 6, 2, 10, 0, 0, tzinfo=timezone.utc)

# kind -> (controller name, API group, apiVersion)
KINDS = {
    "GitRepository": ("gitrepository", "source.toolkit.fluxcd.io", "source.toolkit.fluxcd.io/v1"),
    "OCIRepository": ("ocirepository", "source.toolkit.fluxcd.io", "source.toolkit.fluxcd.io/v1beta2"),
    "HelmRepository": ("helmrepository", "source.toolkit.fluxcd.io", "source.toolkit.fluxcd.io/v1"),
    "HelmChart": ("helmchart", "source.toolkit.fluxcd.io", "source.toolkit.fluxcd.io/v1"),
    "Kustomization": ("kustomization", "kustomize.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io/v1"),
    "HelmRelease": ("helmrelease", "helm.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io/v2"),
    "ImageRepository": ("imagerepository", "image.toolkit.fluxcd.io", "image.toolkit.fluxcd.io/v1beta2"),
    "ImagePolicy": ("imagepolicy", "image.toolkit.fluxcd.io", "image.toolkit.fluxcd.io/v1beta2"),
    "ImageUpdateAutomation": ("imageupdateautomation", "image.toolkit.fluxcd.io", "image.toolkit.fluxcd.io/v1beta2"),
    "Alert": ("alert", "notification.toolkit.fluxcd.io", "notification.toolkit.fluxcd.io/v1beta3"),
}
COMPONENT = {
    "source.toolkit.fluxcd.io": "source-controller",
    "kustomize.toolkit.fluxcd.io": "kustomize-controller",
    "helm.toolkit.fluxcd.io": "helm-controller",
    "notification.toolkit.fluxcd.io": "notification-controller",
}
PODS = {
    "source-controller": "source-controller-7d9f8c6b5-x2x7k",
    "kustomize-controller": "kustomize-controller-6c9b8d7f5-abcde",
    "helm-controller": "helm-controller-5b7d9c6f4-q8k2m",
    "notification-controller": "notification-controller-58f9d4b7c-7rwzp",
    "image-reflector-controller": "image-reflector-controller-7f8d6c5b4-p2lqz",
}


def component_of(kind):
    group = KINDS[kind][1]
    if group == "image.toolkit.fluxcd.io":
        return "image-automation-controller" if kind == "ImageUpdateAutomation" else "image-reflector-controller"
    return COMPONENT[group]


def T(sec):
    return BASE + timedelta(seconds=sec)


def iso_ms(sec):
    return T(sec).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (T(sec).microsecond // 1000)


def iso_s(sec):
    return T(sec).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_ms(sec):
    return int(T(sec).timestamp() * 1000)


def sha(seed):
    return hashlib.sha1(seed.encode()).hexdigest()


def dumps(d):
    return json.dumps(d, separators=(",", ":"))


def human(sec):
    """Go time.Duration.String() for whole/fractional seconds."""
    if sec < 60:
        return ("%.9f" % sec).rstrip("0").rstrip(".") + "s"
    m, s = divmod(int(sec), 60)
    if m < 60:
        return "%dm%ds" % (m, s)
    h, m = divmod(m, 60)
    return "%dh%dm%ds" % (h, m, s)


class Case:
    def __init__(self, name):
        self.name = name
        self.lines = []  # (sec, seq, text)
        self.n = 0
        self.present = []
        self.absent = []
        self.alerting = None

    def expect(self, pattern, subject=None, tenant=None, impacted=None, status="firing", root_cause=None,
               tenants=None, impacted_count=None, workload=None):
        """A finding the case must end with (checked by tests/golden_replay.rs)."""
        e = {"pattern": pattern, "status": status}
        if workload:
            e["workload"] = workload
        if subject:
            e["subject"] = subject
        if tenant:
            e["tenant"] = tenant
        if impacted:
            e["impacted"] = impacted
        if root_cause:
            e["root_cause"] = root_cause
        if tenants:
            e["tenants"] = tenants
        if impacted_count is not None:
            e["impacted_count"] = impacted_count
        self.present.append(e)
        return self

    def max_alerting(self, n):
        """At most `n` findings of severity warning or worse, whatever their status."""
        self.alerting = n
        return self

    def forbid(self, pattern):
        """A pattern the case must not produce at all."""
        self.absent.append(pattern)
        return self

    def add(self, sec, text):
        self.n += 1
        self.lines.append((sec, self.n, text))

    def rid(self):
        h = hashlib.md5(("%s/%d" % (self.name, self.n)).encode()).hexdigest()
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])

    # --- controller log lines (current zap JSON layout) -------------------------------
    def zap(self, sec, level, msg, kind, ns, name, error=None, **extra):
        ctrl, group, _ = KINDS[kind]
        d = {
            "level": level,
            "ts": iso_ms(sec),
            "msg": msg,
            "controller": ctrl,
            "controllerGroup": group,
            "controllerKind": kind,
            kind: {"name": name, "namespace": ns},
            "namespace": ns,
            "name": name,
            "reconcileID": self.rid(),
        }
        d.update(extra)
        if error is not None:
            d["error"] = error
        self.add(sec, dumps(d))

    def setup(self, sec, level, msg, error=None, envelope_pod=None):
        d = {"level": level, "ts": iso_ms(sec), "logger": "setup", "msg": msg}
        if error is not None:
            d["error"] = error
        line = dumps(d)
        if envelope_pod:
            line = "[pod/%s/manager] %s" % (envelope_pod, line)
        self.add(sec, line)

    # --- Kubernetes Events -------------------------------------------------------------
    def event(self, sec, kind, ns, name, reason, message, type_="Normal", annotations=None,
              count=1, first=None, component=None):
        comp = component or component_of(kind)
        d = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": "%s.%s" % (name, sha("%s%s%d" % (self.name, reason, self.n))[:16]),
                "namespace": ns,
                "annotations": annotations or {},
                "creationTimestamp": iso_s(first if first is not None else sec),
            },
            "involvedObject": {"kind": kind, "namespace": ns, "name": name,
                               "apiVersion": KINDS[kind][2] if kind in KINDS else "v1"},
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": comp},
            "count": count,
            "firstTimestamp": iso_s(first if first is not None else sec),
            "lastTimestamp": iso_s(sec),
            "reportingComponent": comp,
        }
        self.add(sec, dumps(d))

    def kubelet_event(self, sec, pod, reason, message, type_="Warning", count=1, node="node-2"):
        d = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "%s.%s" % (pod, sha("%s%d" % (reason, self.n))[:16]),
                         "namespace": "flux-system", "creationTimestamp": iso_s(sec)},
            "involvedObject": {"kind": "Pod", "namespace": "flux-system", "name": pod,
                               "apiVersion": "v1", "fieldPath": "spec.containers{manager}"},
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": "kubelet", "host": node},
            "count": count,
            "firstTimestamp": iso_s(sec),
            "lastTimestamp": iso_s(sec),
        }
        self.add(sec, dumps(d))

    def node_oom(self, sec, process, pid=48213, node="node-2"):
        d = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "%s.%s" % (node, sha("oom%d" % self.n)[:16]), "namespace": "default",
                         "creationTimestamp": iso_s(sec)},
            "involvedObject": {"kind": "Node", "name": node, "apiVersion": "v1"},
            "reason": "OOMKilling",
            "message": "Memory cgroup out of memory: Killed process %d (%s) total-vm:1873420kB, "
                       "anon-rss:1048204kB, file-rss:41532kB, shmem-rss:0kB, UID:65534 pgtables:2360kB "
                       "oom_score_adj:999" % (pid, process),
            "type": "Warning",
            "source": {"component": "kernel-monitor", "host": node},
            "count": 1,
            "firstTimestamp": iso_s(sec),
            "lastTimestamp": iso_s(sec),
            "reportingComponent": "kernel-monitor",
        }
        self.add(sec, dumps(d))

    # --- object snapshots --------------------------------------------------------------
    def obj(self, sec, kind, ns, name, spec, ready=("True", None, None), status=None, stalled=None):
        _, _, api = KINDS[kind]
        st, reason, message = ready
        if reason is None:
            reason = {"Kustomization": "ReconciliationSucceeded", "HelmRelease": "UpgradeSucceeded"}.get(kind, "Succeeded")
        if message is None:
            message = "Applied revision: main@sha1:%s" % sha(ns + name) if kind == "Kustomization" else "ready"
        conds = [{"type": "Ready", "status": st, "reason": reason, "message": message,
                  "lastTransitionTime": iso_s(sec)}]
        if stalled:
            conds.append({"type": "Stalled", "status": "True", "reason": stalled[0], "message": stalled[1],
                          "lastTransitionTime": iso_s(sec)})
        d = {
            "apiVersion": api,
            "kind": kind,
            "metadata": {"name": name, "namespace": ns, "generation": 1,
                         "resourceVersion": str(int(sha(ns + name + str(sec))[:6], 16))},
            "spec": spec,
            "status": dict(status or {}, conditions=conds),
        }
        self.add(sec, dumps(d))

    def gitrepo(self, sec, ns, name, url, interval="1m0s", size=None, secret=None, ready=("True", None, None)):
        spec = {"interval": interval, "url": url, "ref": {"branch": "main"}, "timeout": "60s"}
        if secret:
            spec["secretRef"] = {"name": secret}
        rev = "main@sha1:%s" % sha(url)
        status = {"artifact": {"revision": rev, "size": size or 48213}}
        if ready == ("True", None, None):
            ready = ("True", "Succeeded", "stored artifact for revision '%s'" % rev)
        self.obj(sec, "GitRepository", ns, name, spec, ready=ready, status=status)

    def ks(self, sec, ns, name, source, interval="10m0s", depends=None, sa=None, applied=None,
           ready=("True", None, None), path=None):
        spec = {"interval": interval, "path": path or "./deploy/%s" % name, "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": source[1], "namespace": source[0]}}
        if depends:
            spec["dependsOn"] = [{"name": n, "namespace": dns} for dns, n in depends]
        if sa:
            spec["serviceAccountName"] = sa
        status = {"observedGeneration": 1}
        if applied:
            status["lastAppliedRevision"] = applied
            status["lastAttemptedRevision"] = applied
            if ready == ("True", None, None):
                ready = ("True", "ReconciliationSucceeded", "Applied revision: %s" % applied)
        self.obj(sec, "Kustomization", ns, name, spec, ready=ready, status=status)

    def pod(self, sec, ctrl, restarts, state, last=None, ready=True, image_tag="v1.6.0"):
        cs = {"name": "manager", "ready": ready, "restartCount": restarts,
              "image": "ghcr.io/fluxcd/%s:%s" % (ctrl, image_tag), "state": state}
        if last:
            cs["lastState"] = last
        d = {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": PODS[ctrl], "namespace": "flux-system",
                          "labels": {"app": ctrl, "app.kubernetes.io/part-of": "flux"}},
             "status": {"phase": "Running", "containerStatuses": [cs]}}
        self.add(sec, dumps(d))

    # --- metrics -----------------------------------------------------------------------
    def metric(self, sec, metric_name, value, ctrl, **labels):
        lab = dict(labels)
        lab.setdefault("pod", PODS[ctrl])
        body = ",".join('%s="%s"' % (k, v) for k, v in lab.items())
        self.add(sec, "%s{%s} %s %d" % (metric_name, body, fmt_value(value), epoch_ms(sec)))

    # --- common Flux sequences ---------------------------------------------------------
    def git_ok(self, sec, ns, name, url):
        rev = "main@sha1:%s" % sha(url)
        self.zap(sec, "info", "no changes since last reconciliation: observed revision '%s'" % rev,
                 "GitRepository", ns, name)

    def git_new(self, sec, ns, name, rev, subject):
        self.zap(sec, "info", "stored artifact for commit '%s'" % subject, "GitRepository", ns, name)
        self.event(sec, "GitRepository", ns, name, "NewArtifact", "stored artifact for commit '%s'" % subject,
                   annotations={"source.toolkit.fluxcd.io/revision": rev})

    def git_err(self, sec, ns, name, err, reason="GitOperationFailed", event=True):
        self.zap(sec, "error", "Reconciler error", "GitRepository", ns, name, error=err)
        if event:
            self.event(sec, "GitRepository", ns, name, reason, err, type_="Warning")

    def ks_ok(self, sec, ns, name, rev, dur=1.84, interval="10m0s"):
        self.zap(sec, "info", "Reconciliation finished in %s, next run in %s" % (human(dur), interval),
                 "Kustomization", ns, name, revision=rev)

    def ks_fail(self, sec, ns, name, rev, err, dur=0.71, interval="10m0s", reason="ReconciliationFailed",
                event=True):
        self.zap(sec, "error", "Reconciliation failed after %s, next try in %s" % (human(dur), interval),
                 "Kustomization", ns, name, error=err, revision=rev)
        if event:
            self.event(sec, "Kustomization", ns, name, reason, err, type_="Warning",
                       annotations={"kustomize.toolkit.fluxcd.io/revision": rev})

    def ssa(self, sec, ns, name, rev, output):
        self.zap(sec, "info", "server-side apply completed", "Kustomization", ns, name,
                 revision=rev, output=output)
        changed = [k + " " + v for k, v in output.items() if v != "unchanged"]
        if changed:
            self.event(sec, "Kustomization", ns, name, "Progressing", "\n".join(changed),
                       annotations={"kustomize.toolkit.fluxcd.io/revision": rev})

    def write(self):
        d = os.path.join(HERE, self.name)
        os.makedirs(d, exist_ok=True)
        ordered = sorted(self.lines, key=lambda x: (x[0], x[1]))
        with open(os.path.join(d, "input.log"), "w") as f:
            for _, _, text in ordered:
                f.write(text + "\n")
        with open(os.path.join(d, "assert.json"), "w") as f:
            spec = {"present": self.present, "absent": sorted(set(self.absent))}
            if self.alerting is not None:
                spec["max_alerting"] = self.alerting
            json.dump(spec, f, indent=1, sort_keys=True)
            f.write("\n")


def fmt_value(v):
    if isinstance(v, int):
        return str(v)
    return "%.6e" % v if v >= 1e6 else ("%g" % v)


MIB = 1024 * 1024
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def rev_of(seed, branch="main"):
    return "%s@sha1:%s" % (branch, sha(seed))


# ======================================================================================
# git_auth_failure
# ======================================================================================
BILLING_URL = "https://github.com/acme-payments/billing.git"


def billing_setup(c):
    c.gitrepo(0, "payments", "billing", BILLING_URL, interval="1m0s", secret="billing-git-token")
    src = ("payments", "billing")
    rev = "main@sha1:%s" % sha(BILLING_URL)
    c.ks(0, "payments", "billing-api", src, applied=rev)
    c.ks(0, "payments", "billing-worker", src, applied=rev)
    return rev


@case
def git_auth_failure_fires():
    c = Case("git_auth_failure_fires")
    rev = billing_setup(c)
    c.git_ok(30, "payments", "billing", BILLING_URL)
    c.ks_ok(45, "payments", "billing-api", rev)
    c.ks_ok(47, "payments", "billing-worker", rev)
    err = ("failed to checkout and determine revision: unable to clone '%s': authentication required: "
           "Invalid username or token. Password authentication is not supported for Git operations." % BILLING_URL)
    for i, t in enumerate([92, 153, 214, 275, 336]):
        c.git_err(t, "payments", "billing", err, reason="AuthenticationFailed", event=(i % 2 == 0))
    c.expect("git_auth_failure", "GitRepository/payments/billing", "payments", ["Kustomization/payments/billing-api", "Kustomization/payments/billing-worker"])
    return c


@case
def git_auth_failure_near_miss():
    # Two failures while the token was being rotated, then the fetch succeeds.
    c = Case("git_auth_failure_near_miss")
    rev = billing_setup(c)
    c.git_ok(30, "payments", "billing", BILLING_URL)
    c.ks_ok(45, "payments", "billing-api", rev)
    err = ("failed to checkout and determine revision: unable to clone '%s': authentication required: "
           "Invalid username or token. Password authentication is not supported for Git operations." % BILLING_URL)
    c.git_err(92, "payments", "billing", err, reason="AuthenticationFailed")
    c.git_err(153, "payments", "billing", err, reason="AuthenticationFailed", event=False)
    new = rev_of("billing-rotated")
    c.git_new(214, "payments", "billing", new, "Bump invoice renderer to 2.8.1")
    c.ssa(230, "payments", "billing-api", new, {"Deployment/payments/billing-api": "configured",
                                                  "Service/payments/billing-api": "unchanged"})
    c.ks_ok(232, "payments", "billing-api", new)
    for t in (275, 336, 397, 458):
        c.zap(t, "info", "no changes since last reconciliation: observed revision '%s'" % new,
              "GitRepository", "payments", "billing")
    return c


# ======================================================================================
# rate_limit_exhaustion
# ======================================================================================
def rate_limit_setup(c):
    for i in range(6):
        c.gitrepo(0, "ml-research", "model-%d" % i, "https://github.com/acme-ml/model-%d" % i, interval="1m0s")
    for i in range(2):
        c.gitrepo(0, "storefront", "site-%d" % i, "https://github.com/acme-web/site-%d" % i, interval="10m0s")


def err_429(url):
    return ("failed to checkout and determine revision: unable to clone '%s': unexpected client error: "
            "unexpected requesting \"%s/info/refs?service=git-upload-pack\" status code: 429" % (url, url))


@case
def rate_limit_exhaustion_fires():
    c = Case("rate_limit_exhaustion_fires")
    rate_limit_setup(c)
    for i in range(6):
        c.git_ok(20 + i, "ml-research", "model-%d" % i, "https://github.com/acme-ml/model-%d" % i)
    c.git_ok(40, "storefront", "site-0", "https://github.com/acme-web/site-0")
    t = 300
    for rnd in range(2):
        for i in range(6):
            url = "https://github.com/acme-ml/model-%d" % i
            c.git_err(t + rnd * 60 + i * 3, "ml-research", "model-%d" % i, err_429(url), event=False)
    c.git_err(330, "storefront", "site-1", err_429("https://github.com/acme-web/site-1"))
    c.expect("rate_limit_exhaustion", "Host//github.com", "ml-research")
    return c


@case
def rate_limit_exhaustion_near_miss():
    # Four throttled fetches in 15 minutes (threshold 5), then the quota recovers.
    c = Case("rate_limit_exhaustion_near_miss")
    rate_limit_setup(c)
    for t, i in [(300, 0), (303, 1), (420, 2), (540, 3)]:
        url = "https://github.com/acme-ml/model-%d" % i
        c.git_err(t, "ml-research", "model-%d" % i, err_429(url), event=False)
    for rnd in range(3):
        for i in range(6):
            c.git_ok(600 + rnd * 60 + i, "ml-research", "model-%d" % i, "https://github.com/acme-ml/model-%d" % i)
    return c


# ======================================================================================
# network_degradation
# ======================================================================================
CORP = "git.corp.example.com"


def net_err(url, host=CORP):
    return ("failed to checkout and determine revision: unable to clone '%s': dial tcp: lookup %s on "
            "10.96.0.10:53: no such host" % (url, host))


@case
def network_degradation_fires():
    c = Case("network_degradation_fires")
    a = "https://%s/platform/infra.git" % CORP
    b = "https://%s/data/pipelines.git" % CORP
    c.gitrepo(0, "platform", "infra", a, interval="1m0s")
    c.gitrepo(0, "data", "pipelines", b, interval="1m0s")
    c.git_ok(30, "platform", "infra", a)
    c.git_ok(31, "data", "pipelines", b)
    for k in range(4):
        c.git_err(300 + k * 60, "platform", "infra", net_err(a), event=(k == 0))
        c.git_err(320 + k * 60, "data", "pipelines", net_err(b), event=(k == 0))
    c.expect("network_degradation", "Host//%s" % CORP, None, ["GitRepository/platform/infra", "GitRepository/data/pipelines"])
    return c


@case
def network_degradation_near_miss():
    # One source, two timeouts a minute apart, then the fetch works again.
    c = Case("network_degradation_near_miss")
    a = "https://%s/platform/infra.git" % CORP
    c.gitrepo(0, "platform", "infra", a, interval="1m0s")
    c.git_ok(30, "platform", "infra", a)
    err = ("failed to checkout and determine revision: unable to clone '%s': Get \"%s/info/refs?service="
           "git-upload-pack\": dial tcp 10.20.4.17:443: i/o timeout" % (a, a))
    c.git_err(300, "platform", "infra", err)
    c.git_err(361, "platform", "infra", err, event=False)
    for k in range(5):
        c.git_ok(422 + k * 60, "platform", "infra", a)
    return c


# ======================================================================================
# controller_oom
# ======================================================================================
def ks_background(c, tenant, names, start, end, every=600, src=None):
    src = src or (tenant, "%s-repo" % tenant)
    rev = rev_of(tenant)
    for n in names:
        c.ks(0, tenant, n, src, applied=rev)
    t = start
    k = 0
    while t < end:
        for j, n in enumerate(names):
            c.ks_ok(t + j * 7 + k % 3, tenant, n, rev, dur=1.2 + j * 0.31)
        t += every
        k += 1
    return rev


@case
def controller_oom_fires():
    c = Case("controller_oom_fires")
    c.pod(0, "kustomize-controller", 0, {"running": {"startedAt": iso_s(0)}})
    ks_background(c, "shop", ["web", "cart"], 60, 3000)
    for k in range(10):
        c.metric(k * 180, "process_resident_memory_bytes", int((380 + k * 12) * MIB), "kustomize-controller",
                 namespace="flux-system", container="manager")
    c.pod(1805, "kustomize-controller", 1, {"running": {"startedAt": iso_s(1805)}},
          last={"terminated": {"reason": "OOMKilled", "exitCode": 137, "startedAt": iso_s(0),
                               "finishedAt": iso_s(1790)}})
    c.kubelet_event(1806, PODS["kustomize-controller"], "Pulled",
                    "Container image \"ghcr.io/fluxcd/kustomize-controller:v1.6.0\" already present on machine",
                    type_="Normal")
    c.setup(1808, "info", "starting manager", envelope_pod=PODS["kustomize-controller"])
    c.expect("controller_oom", "Deployment/flux-system/kustomize-controller")
    return c


@case
def controller_oom_near_miss():
    # One restart, but the container exited with an error (a panic), not an OOM kill.
    c = Case("controller_oom_near_miss")
    c.pod(0, "kustomize-controller", 0, {"running": {"startedAt": iso_s(0)}})
    ks_background(c, "shop", ["web", "cart"], 60, 3000)
    for k in range(10):
        c.metric(k * 180, "process_resident_memory_bytes", int((210 + (k % 3)) * MIB), "kustomize-controller",
                 namespace="flux-system", container="manager")
    c.pod(1805, "kustomize-controller", 1, {"running": {"startedAt": iso_s(1805)}},
          last={"terminated": {"reason": "Error", "exitCode": 2, "startedAt": iso_s(0),
                               "finishedAt": iso_s(1790)}})
    c.setup(1808, "info", "starting manager", envelope_pod=PODS["kustomize-controller"])
    return c


# ======================================================================================
# oom_cascade
# ======================================================================================
def download_err(ns, repo, seed):
    return ("failed to download archive: GET http://source-controller.flux-system.svc.cluster.local./"
            "gitrepository/%s/%s/%s.tar.gz: dial tcp 10.96.182.71:80: connect: connection refused"
            % (ns, repo, sha(seed)))


def cascade_setup(c):
    # alpha polls a huge monorepo every minute: the memory hog.
    c.gitrepo(0, "alpha", "monorepo", "https://github.com/alpha/monorepo", interval="1m0s", size=180 * MIB)
    c.gitrepo(0, "bravo", "apps", "https://github.com/bravo/apps", interval="10m0s", size=2 * MIB)
    c.ks(0, "alpha", "services", ("alpha", "monorepo"), applied=rev_of("alpha"))
    c.ks(0, "alpha", "jobs", ("alpha", "monorepo"), applied=rev_of("alpha"))
    c.ks(0, "bravo", "frontend", ("bravo", "apps"), applied=rev_of("bravo"))
    c.pod(0, "source-controller", 0, {"running": {"startedAt": iso_s(0)}})
    for k in range(12):
        c.metric(k * 100, "process_resident_memory_bytes", int((600 + k * 35) * MIB), "source-controller",
                 namespace="flux-system", container="manager")
    for k in range(10):
        c.git_ok(60 + k * 60, "alpha", "monorepo", "https://github.com/alpha/monorepo")
    c.git_ok(90, "bravo", "apps", "https://github.com/bravo/apps")


@case
def oom_cascade_fires():
    c = Case("oom_cascade_fires")
    cascade_setup(c)
    c.node_oom(1200, "source-controller")
    c.pod(1202, "source-controller", 1, {"waiting": {"reason": "CrashLoopBackOff"}}, ready=False,
          last={"terminated": {"reason": "OOMKilled", "exitCode": 137, "startedAt": iso_s(0),
                               "finishedAt": iso_s(1200)}})
    c.ks_fail(1260, "alpha", "services", rev_of("alpha"), download_err("alpha", "monorepo", "a1"),
              reason="ArtifactFailed")
    c.ks_fail(1290, "bravo", "frontend", rev_of("bravo"), download_err("bravo", "apps", "b1"),
              reason="ArtifactFailed")
    c.ks_fail(1320, "alpha", "jobs", rev_of("alpha"), download_err("alpha", "monorepo", "a1"),
              reason="ArtifactFailed")
    c.ks_fail(1500, "alpha", "services", rev_of("alpha"), download_err("alpha", "monorepo", "a1"),
              reason="ArtifactFailed", event=False)
    c.expect("oom_cascade", "Deployment/flux-system/source-controller", "alpha", ["Kustomization/alpha/services", "Kustomization/bravo/frontend", "Kustomization/alpha/jobs"])
    return c


@case
def oom_cascade_near_miss():
    # One OOM kill; the only failures that follow are in one tenant.
    c = Case("oom_cascade_near_miss")
    cascade_setup(c)
    c.node_oom(1200, "source-controller")
    c.pod(1202, "source-controller", 1, {"running": {"startedAt": iso_s(1202)}},
          last={"terminated": {"reason": "OOMKilled", "exitCode": 137, "startedAt": iso_s(0),
                               "finishedAt": iso_s(1200)}})
    c.ks_fail(1260, "alpha", "services", rev_of("alpha"), download_err("alpha", "monorepo", "a1"),
              reason="ArtifactFailed")
    c.ks_fail(1320, "alpha", "jobs", rev_of("alpha"), download_err("alpha", "monorepo", "a1"),
              reason="ArtifactFailed")
    c.ks_ok(1500, "bravo", "frontend", rev_of("bravo"))
    c.expect("controller_oom", "Deployment/flux-system/source-controller")
    return c


# ======================================================================================
# controller_crashloop
# ======================================================================================
def crash(c, t, restarts):
    pod = PODS["helm-controller"]
    c.setup(t - 40, "error", "problem running manager", error="leader election lost", envelope_pod=pod)
    c.pod(t, "helm-controller", restarts, {"waiting": {"reason": "CrashLoopBackOff",
                                                        "message": "back-off 20s restarting failed container=manager pod=%s_flux-system" % pod}},
          ready=False, last={"terminated": {"reason": "Error", "exitCode": 1, "startedAt": iso_s(t - 300),
                                            "finishedAt": iso_s(t - 40)}})
    c.kubelet_event(t + 5, pod, "BackOff", "Back-off restarting failed container manager in pod %s_flux-system(6b1f0d2e)" % pod,
                    count=restarts)
    c.setup(t + 30, "info", "starting manager", envelope_pod=pod)


@case
def controller_crashloop_fires():
    c = Case("controller_crashloop_fires")
    c.pod(0, "helm-controller", 0, {"running": {"startedAt": iso_s(0)}})
    for t, n in [(400, 1), (800, 2), (1300, 3), (1900, 4)]:
        crash(c, t, n)
    c.expect("controller_crashloop", "Deployment/flux-system/helm-controller").forbid("controller_oom")
    return c


@case
def controller_crashloop_near_miss():
    # Two restarts in 30 minutes (threshold 3), then the controller stays up.
    c = Case("controller_crashloop_near_miss")
    c.pod(0, "helm-controller", 0, {"running": {"startedAt": iso_s(0)}})
    for t, n in [(400, 1), (1300, 2)]:
        crash(c, t, n)
    c.pod(2600, "helm-controller", 2, {"running": {"startedAt": iso_s(1330)}})
    c.forbid("controller_oom")
    return c


# ======================================================================================
# guilty_tenant / queue_backpressure
# ======================================================================================
def queue_series(c, start, end, depth_fn, step=30):
    t = start
    while t <= end:
        c.metric(t, "workqueue_depth", depth_fn(t), "kustomize-controller", name="kustomization",
                 controller="kustomization")
        t += step


@case
def guilty_tenant_fires():
    c = Case("guilty_tenant_fires")
    heavy = ["svc-%02d" % i for i in range(5)]
    for n in heavy:
        c.ks(0, "bigco", n, ("bigco", "monorepo"), interval="1m0s", applied=rev_of("bigco"))
    for n in ["web", "api"]:
        c.ks(0, "smallco", n, ("smallco", "apps"), interval="5m0s", applied=rev_of("smallco"))
    for m in range(25):
        t = 60 + m * 60
        for j, n in enumerate(heavy):
            c.ks_ok(t + j * 2, "bigco", n, rev_of("bigco"), dur=38.5 + j, interval="1m0s")
        if m % 5 == 0:
            c.ks_ok(t + 30, "smallco", "web", rev_of("smallco"), dur=1.9, interval="5m0s")
            c.ks_ok(t + 33, "smallco", "api", rev_of("smallco"), dur=2.4, interval="5m0s")
    queue_series(c, 60, 1560, lambda t: 12 if t < 600 else 140 + (t // 30) % 7 * 9)
    c.expect("guilty_tenant", "Namespace//bigco", "bigco").expect("queue_backpressure", "Deployment/flux-system/kustomize-controller")
    return c


@case
def guilty_tenant_near_miss():
    # Same backlog, but the work is spread: the busiest tenant has 45% of it (threshold 50%).
    c = Case("guilty_tenant_near_miss")
    tenants = [("red", 9), ("green", 6), ("blue", 5)]
    for tn, k in tenants:
        for i in range(k):
            c.ks(0, tn, "app-%d" % i, (tn, "repo"), interval="4m0s", applied=rev_of(tn))
    # Objects of different tenants interleave within a round, as reconcile times do.
    order = []
    for i in range(max(k for _, k in tenants)):
        order.extend((tn, i) for tn, k in tenants if i < k)
    for m in range(6):
        t = 60 + m * 240
        for off, (tn, i) in enumerate(order):
            c.ks_ok(t + off * 3, tn, "app-%d" % i, rev_of(tn), dur=12.0, interval="4m0s")
    queue_series(c, 60, 1560, lambda t: 12 if t < 600 else 140 + (t // 30) % 7 * 9)
    c.expect("queue_backpressure", "Deployment/flux-system/kustomize-controller")
    return c


@case
def queue_backpressure_fires():
    c = Case("queue_backpressure_fires")
    ks_background(c, "shop", ["web", "cart", "search"], 30, 1500, every=300)
    queue_series(c, 0, 1500, lambda t: 6 if t < 600 or t > 1200 else 160 + (t // 30) % 5 * 11)
    c.expect("queue_backpressure", "Deployment/flux-system/kustomize-controller")
    return c


@case
def queue_backpressure_near_miss():
    # Depth 150 for three minutes during a bulk re-sync, then it drains.
    c = Case("queue_backpressure_near_miss")
    ks_background(c, "shop", ["web", "cart", "search"], 30, 1500, every=300)
    queue_series(c, 0, 1500, lambda t: 150 if 600 <= t < 780 else 6)
    return c


# ======================================================================================
# reconcile_loop / drift_detected
# ======================================================================================
def loop_setup(c, rev):
    c.gitrepo(0, "shop", "shop-repo", "https://github.com/acme/shop", interval="1m0s")
    c.ks(0, "shop", "frontend", ("shop", "shop-repo"), interval="5m0s", applied=rev)


@case
def reconcile_loop_fires():
    c = Case("reconcile_loop_fires")
    rev = rev_of("shop-loop")
    loop_setup(c, rev)
    out = {"Deployment/shop/frontend": "configured", "HorizontalPodAutoscaler/shop/frontend": "unchanged",
           "Service/shop/frontend": "unchanged"}
    for t in (300, 600, 900, 1200):
        c.ssa(t, "shop", "frontend", rev, out)
        c.ks_ok(t + 2, "shop", "frontend", rev, dur=2.3, interval="5m0s")
    c.expect("reconcile_loop", "Kustomization/shop/frontend", "shop", ["Deployment/shop/frontend"])
    return c


@case
def reconcile_loop_near_miss():
    # Three corrections, but spread over 50 minutes: never three within 30 minutes.
    c = Case("reconcile_loop_near_miss")
    rev = rev_of("shop-loop")
    loop_setup(c, rev)
    out = {"Deployment/shop/frontend": "configured", "Service/shop/frontend": "unchanged"}
    for k, t in enumerate((300, 2100, 3900)):
        c.ssa(t, "shop", "frontend", rev, out)
        c.ks_ok(t + 2, "shop", "frontend", rev, dur=2.3, interval="5m0s")
        for u in range(t + 300, t + 1800, 300):
            c.ssa(u, "shop", "frontend", rev, {k2: "unchanged" for k2 in out})
            c.ks_ok(u + 2, "shop", "frontend", rev, dur=1.1, interval="5m0s")
    c.expect("drift_detected", "Kustomization/shop/frontend")
    return c


@case
def drift_detected_fires():
    c = Case("drift_detected_fires")
    rev = rev_of("cart-v1")
    c.gitrepo(0, "shop", "shop-repo", "https://github.com/acme/shop", interval="1m0s")
    c.ks(0, "shop", "cart", ("shop", "shop-repo"), interval="10m0s", applied=rev)
    c.ssa(60, "shop", "cart", rev, {"Deployment/shop/cart": "unchanged", "Service/shop/cart": "unchanged"})
    c.ks_ok(61, "shop", "cart", rev)
    # Someone ran `kubectl scale deploy/cart --replicas=0`; the next run puts it back.
    c.ssa(660, "shop", "cart", rev, {"Deployment/shop/cart": "configured", "Service/shop/cart": "unchanged"})
    c.ks_ok(661, "shop", "cart", rev)
    c.ssa(1260, "shop", "cart", rev, {"Deployment/shop/cart": "unchanged", "Service/shop/cart": "unchanged"})
    c.ks_ok(1261, "shop", "cart", rev)
    c.expect("drift_detected", "Kustomization/shop/cart", "shop", ["Deployment/shop/cart"]).forbid("reconcile_loop")
    return c


@case
def drift_detected_near_miss():
    # The change comes from a new commit: an ordinary rollout, not drift.
    c = Case("drift_detected_near_miss")
    rev = rev_of("cart-v1")
    new = rev_of("cart-v2")
    c.gitrepo(0, "shop", "shop-repo", "https://github.com/acme/shop", interval="1m0s")
    c.ks(0, "shop", "cart", ("shop", "shop-repo"), interval="10m0s", applied=rev)
    c.ssa(60, "shop", "cart", rev, {"Deployment/shop/cart": "unchanged", "Service/shop/cart": "unchanged"})
    c.ks_ok(61, "shop", "cart", rev)
    c.git_new(600, "shop", "shop-repo", new, "cart: bump image to 1.4.2")
    c.ssa(605, "shop", "cart", new, {"Deployment/shop/cart": "configured", "Service/shop/cart": "unchanged"})
    c.ks_ok(606, "shop", "cart", new)
    c.ssa(1205, "shop", "cart", new, {"Deployment/shop/cart": "unchanged", "Service/shop/cart": "unchanged"})
    c.ks_ok(1206, "shop", "cart", new)
    c.forbid("reconcile_loop")
    return c


# ======================================================================================
# dependency_cycle / dependency_blocked
# ======================================================================================
FS = "flux-system"
FS_SRC = (FS, "flux-system")


def waiting(c, t, name, dep, event=True):
    c.zap(t, "info", "Dependencies do not meet ready condition, retrying in 30s", "Kustomization", FS, name)
    if event:
        c.event(t, "Kustomization", FS, name, "DependencyNotReady",
                "dependency '%s/%s' is not ready" % (FS, dep))


@case
def dependency_cycle_fires():
    c = Case("dependency_cycle_fires")
    c.gitrepo(0, FS, "flux-system", "ssh://git@github.com/acme/fleet", interval="1m0s")
    edges = [("crds", "ingress"), ("monitoring", "crds"), ("ingress", "monitoring")]
    for n, d in edges:
        c.ks(0, FS, n, FS_SRC, interval="10m0s", depends=[(FS, d)],
             ready=("False", "DependencyNotReady", "dependency '%s/%s' is not ready" % (FS, d)))
    for k in range(8):
        for j, (n, d) in enumerate(edges):
            waiting(c, 30 + k * 30 + j, n, d, event=(k % 4 == 0))
    c.expect("dependency_cycle", "Kustomization/flux-system/crds", None, ["Kustomization/flux-system/ingress", "Kustomization/flux-system/monitoring"]).forbid("dependency_blocked").forbid("stalled_reconciliation")
    return c


@case
def dependency_cycle_near_miss():
    # A diamond (apps -> infra, config -> crds): shared dependencies, no cycle; crds
    # takes a minute, everyone waits briefly, then proceeds.
    c = Case("dependency_cycle_near_miss")
    c.gitrepo(0, FS, "flux-system", "ssh://git@github.com/acme/fleet", interval="1m0s")
    rev = rev_of("fleet")
    c.ks(0, FS, "crds", FS_SRC, applied=rev)
    c.ks(0, FS, "infra", FS_SRC, depends=[(FS, "crds")], applied=rev)
    c.ks(0, FS, "config", FS_SRC, depends=[(FS, "crds")], applied=rev)
    c.ks(0, FS, "apps", FS_SRC, depends=[(FS, "infra"), (FS, "config")], applied=rev)
    for k in range(2):
        waiting(c, 30 + k * 30, "infra", "crds")
        waiting(c, 31 + k * 30, "config", "crds")
        waiting(c, 32 + k * 30, "apps", "infra")
    c.ks_ok(85, FS, "crds", rev, dur=52.0)
    for t, n in [(95, "infra"), (96, "config"), (130, "apps")]:
        c.zap(t - 1, "info", "All dependencies are ready, proceeding with reconciliation", "Kustomization", FS, n)
        c.ks_ok(t, FS, n, rev)
    c.forbid("dependency_blocked").forbid("stalled_reconciliation")
    return c


BUILD_ERR = ("kustomize build failed: accumulating resources: accumulation err='accumulating resources from "
             "'cert-manager.yaml': open /tmp/kustomization-1904217711/infrastructure/crds/cert-manager.yaml: "
             "no such file or directory': must build at directory: not a valid directory: evalsymlink failure on "
             "'/tmp/kustomization-1904217711/infrastructure/crds/cert-manager.yaml' : lstat "
             "/tmp/kustomization-1904217711/infrastructure/crds/cert-manager.yaml: no such file or directory")


@case
def dependency_blocked_fires():
    c = Case("dependency_blocked_fires")
    rev = rev_of("fleet-broken")
    c.gitrepo(0, FS, "flux-system", "ssh://git@github.com/acme/fleet", interval="1m0s")
    c.ks(0, FS, "crds", FS_SRC, ready=("False", "BuildFailed", BUILD_ERR))
    c.ks(0, FS, "controllers", FS_SRC, depends=[(FS, "crds")],
         ready=("False", "DependencyNotReady", "dependency 'flux-system/crds' is not ready"))
    c.ks(0, FS, "apps", FS_SRC, depends=[(FS, "controllers")],
         ready=("False", "DependencyNotReady", "dependency 'flux-system/controllers' is not ready"))
    for k in range(4):
        t = 60 + k * 240
        c.ks_fail(t, FS, "crds", rev, BUILD_ERR, reason="BuildFailed", event=(k < 2))
        waiting(c, t + 20, "controllers", "crds", event=(k == 0))
        waiting(c, t + 40, "apps", "controllers", event=(k == 0))
    c.expect("dependency_blocked", "Kustomization/flux-system/crds", "flux-system", ["Kustomization/flux-system/controllers", "Kustomization/flux-system/apps"], root_cause="build_failed").forbid("stalled_reconciliation")
    return c


@case
def dependency_blocked_near_miss():
    # The chain waits while crds applies (one slow run), then everything proceeds.
    c = Case("dependency_blocked_near_miss")
    rev = rev_of("fleet")
    c.gitrepo(0, FS, "flux-system", "ssh://git@github.com/acme/fleet", interval="1m0s")
    c.ks(0, FS, "crds", FS_SRC, applied=rev)
    c.ks(0, FS, "controllers", FS_SRC, depends=[(FS, "crds")], applied=rev)
    c.ks(0, FS, "apps", FS_SRC, depends=[(FS, "controllers")], applied=rev)
    c.zap(30, "info", "Reconciliation in progress", "Kustomization", FS, "crds")
    waiting(c, 40, "controllers", "crds")
    waiting(c, 45, "apps", "controllers")
    waiting(c, 70, "controllers", "crds", event=False)
    waiting(c, 75, "apps", "controllers", event=False)
    c.ks_ok(88, FS, "crds", rev, dur=58.2)
    c.ks_ok(101, FS, "controllers", rev, dur=9.4)
    c.ks_ok(112, FS, "apps", rev, dur=3.1)
    c.forbid("stalled_reconciliation")
    return c


# ======================================================================================
# stalled_reconciliation
# ======================================================================================
def reports_setup(c):
    c.gitrepo(0, "analytics", "analytics-repo", "https://github.com/acme/analytics", interval="5m0s")
    c.ks(0, "analytics", "reports", ("analytics", "analytics-repo"), interval="5m0s",
         path="./apps/reports/overlays/prod", applied=rev_of("analytics-old"))


def path_err():
    return ("kustomization path not found: stat /tmp/kustomization-2731160211/apps/reports/overlays/prod: "
            "no such file or directory")


@case
def stalled_reconciliation_fires():
    c = Case("stalled_reconciliation_fires")
    reports_setup(c)
    rev = rev_of("analytics")
    for k in range(10):
        c.git_ok(20 + k * 300, "analytics", "analytics-repo", "https://github.com/acme/analytics")
    for k in range(9):
        c.ks_fail(60 + k * 300, "analytics", "reports", rev, path_err(), interval="5m0s",
                  reason="ArtifactFailed", event=(k % 3 == 0))
    c.expect("stalled_reconciliation", "Kustomization/analytics/reports", "analytics")
    return c


@case
def stalled_reconciliation_near_miss():
    # Failing for 25 minutes (threshold 30), then the path is fixed.
    c = Case("stalled_reconciliation_near_miss")
    reports_setup(c)
    rev = rev_of("analytics")
    for k in range(6):
        c.ks_fail(60 + k * 300, "analytics", "reports", rev, path_err(), interval="5m0s",
                  reason="ArtifactFailed", event=(k % 3 == 0))
    fixed = rev_of("analytics-fixed")
    c.git_new(1600, "analytics", "analytics-repo", fixed, "reports: restore prod overlay")
    c.ssa(1620, "analytics", "reports", fixed, {"Deployment/analytics/reports": "configured"})
    c.ks_ok(1621, "analytics", "reports", fixed, interval="5m0s")
    c.ks_ok(1921, "analytics", "reports", fixed, interval="5m0s")
    return c


# ======================================================================================
# slow_reconciliation
# ======================================================================================
def warehouse(c, durations):
    rev = rev_of("warehouse")
    c.ks(0, "data", "warehouse", ("data", "data-repo"), interval="10m0s", applied=rev)
    t = 60
    for d in durations:
        t += d
        c.ks_ok(t, "data", "warehouse", rev, dur=d, interval="10m0s")
        t += 600


@case
def slow_reconciliation_fires():
    c = Case("slow_reconciliation_fires")
    warehouse(c, [21.3, 19.8, 22.4, 20.1, 23.9, 21.0, 372.4, 423.1])
    c.expect("slow_reconciliation", "Kustomization/data/warehouse", "data")
    return c


@case
def slow_reconciliation_near_miss():
    # 4m50s runs: under the 300s absolute threshold and 4.1x the median (threshold 5x).
    c = Case("slow_reconciliation_near_miss")
    warehouse(c, [70.2, 68.9, 71.4, 69.5, 72.0, 70.8, 290.0, 289.5])
    return c


# ======================================================================================
# per-object failures: health, helm, build, decryption, rbac, conflict, image, notification
# ======================================================================================
def hc_err(dur="5m0.00158s"):
    return ("health check failed after %s: timeout waiting for: [Deployment/shop/checkout status: "
            "'InProgress', Deployment/shop/checkout-worker status: 'Failed']" % dur)


@case
def health_check_failure_fires():
    c = Case("health_check_failure_fires")
    rev = rev_of("checkout-v7")
    c.ks(0, "shop", "checkout", ("shop", "shop-repo"), interval="10m0s", applied=rev_of("checkout-v6"))
    for k in range(3):
        t = 60 + k * 900
        c.ssa(t, "shop", "checkout", rev, {"Deployment/shop/checkout": "configured" if k == 0 else "unchanged",
                                           "Deployment/shop/checkout-worker": "unchanged"})
        c.zap(t + 1, "info", "Running health checks for revision %s with a timeout of 5m0s" % rev,
              "Kustomization", "shop", "checkout")
        c.ks_fail(t + 301, "shop", "checkout", rev, hc_err(), dur=301.2, reason="HealthCheckFailed")
    c.expect("health_check_failure", "Kustomization/shop/checkout", "shop")
    return c


@case
def health_check_failure_near_miss():
    # One timeout while a slow rollout finishes; the next check passes.
    c = Case("health_check_failure_near_miss")
    rev = rev_of("checkout-v7")
    c.ks(0, "shop", "checkout", ("shop", "shop-repo"), interval="10m0s", applied=rev_of("checkout-v6"))
    c.ssa(60, "shop", "checkout", rev, {"Deployment/shop/checkout": "configured"})
    c.ks_fail(361, "shop", "checkout", rev, hc_err(), dur=301.2, reason="HealthCheckFailed")
    c.ssa(961, "shop", "checkout", rev, {"Deployment/shop/checkout": "unchanged"})
    c.zap(1009, "info", "Health check passed in 48.02s", "Kustomization", "shop", "checkout")
    c.event(1009, "Kustomization", "shop", "checkout", "Progressing", "Health check passed in 48.02s",
            annotations={"kustomize.toolkit.fluxcd.io/revision": rev})
    c.ks_ok(1010, "shop", "checkout", rev, dur=49.1)
    c.forbid("stalled_reconciliation")
    return c


def hr_setup(c, version):
    spec = {"interval": "10m0s", "releaseName": "payments-api",
            "chart": {"spec": {"chart": "payments-api", "version": version,
                               "sourceRef": {"kind": "HelmRepository", "name": "acme-charts", "namespace": "flux-system"}}},
            "upgrade": {"remediation": {"retries": 2}}}
    c.obj(0, "HelmRelease", "payments", "payments-api", spec,
          status={"lastAttemptedRevision": "3.1.4", "history": [{"chartName": "payments-api", "chartVersion": "3.1.4",
                                                                 "status": "deployed", "version": 4}]})
    return spec


def hr_upgrade_failed(c, t, version, err, release_v):
    msg = "Helm upgrade failed for release payments/payments-api with chart payments-api@%s: %s" % (version, err)
    c.zap(t - 300, "info", "running 'upgrade' action with timeout of 5m0s", "HelmRelease", "payments", "payments-api")
    c.zap(t, "error", "failed to run 'upgrade' action", "HelmRelease", "payments", "payments-api", error=msg)
    c.event(t, "HelmRelease", "payments", "payments-api", "UpgradeFailed",
            msg + "\n\nLast Helm logs:\n\nwaiting for 1 resources with timeout of 5m0s\nJob payments/payments-api-migrate failed",
            type_="Warning", annotations={"helm.toolkit.fluxcd.io/revision": version})
    c.event(t + 20, "HelmRelease", "payments", "payments-api", "RollbackSucceeded",
            "Helm rollback to previous release payments/payments-api.v%d with chart payments-api@3.1.4 succeeded" % release_v,
            annotations={"helm.toolkit.fluxcd.io/revision": "3.1.4"})


HOOK_ERR = ("post-upgrade hooks failed: 1 error occurred:\n\t* job payments-api-migrate failed: "
            "BackoffLimitExceeded")


@case
def helm_release_failure_fires():
    c = Case("helm_release_failure_fires")
    spec = hr_setup(c, "3.2.0")
    for k, t in enumerate((400, 1100, 1800)):
        hr_upgrade_failed(c, t, "3.2.0", HOOK_ERR, 4)
    c.zap(1830, "error", "Reconciler error", "HelmRelease", "payments", "payments-api",
          error="exceeded maximum retries: cannot upgrade release")
    c.obj(1831, "HelmRelease", "payments", "payments-api", spec,
          ready=("False", "UpgradeFailed", "Helm upgrade failed for release payments/payments-api with chart "
                 "payments-api@3.2.0: " + HOOK_ERR),
          stalled=("RetriesExceeded", "Failed to upgrade after 3 attempt(s)"),
          status={"lastAttemptedRevision": "3.2.0", "upgradeFailures": 3, "failures": 3})
    c.expect("helm_release_failure", "HelmRelease/payments/payments-api", "payments")
    return c


@case
def helm_release_failure_near_miss():
    # One failed upgrade, rolled back; the fixed chart upgrades fine.
    c = Case("helm_release_failure_near_miss")
    hr_setup(c, "3.2.0")
    hr_upgrade_failed(c, 400, "3.2.0", HOOK_ERR, 4)
    c.zap(1000, "info", "running 'upgrade' action with timeout of 5m0s", "HelmRelease", "payments", "payments-api")
    c.event(1062, "HelmRelease", "payments", "payments-api", "UpgradeSucceeded",
            "Helm upgrade succeeded for release payments/payments-api.v6 with chart payments-api@3.2.1",
            annotations={"helm.toolkit.fluxcd.io/revision": "3.2.1"})
    c.zap(1662, "info", "release in-sync with desired state", "HelmRelease", "payments", "payments-api")
    return c


INGRESS_BUILD_ERR = ("kustomize build failed: accumulating resources: accumulation err='accumulating resources "
                     "from 'nginx-values.yaml': MalformedYAMLError: yaml: line 14: mapping values are not allowed "
                     "in this context in File: nginx-values.yaml': got file 'nginx-values.yaml', but "
                     "'/tmp/kustomization-3820341/platform/ingress/nginx-values.yaml' must be a directory to be a root")


@case
def build_failure_fires():
    c = Case("build_failure_fires")
    good = rev_of("platform-good")
    bad = rev_of("platform-bad")
    c.gitrepo(0, "platform", "platform-repo", "https://github.com/acme/platform", interval="1m0s")
    c.ks(0, "platform", "ingress", ("platform", "platform-repo"), interval="10m0s", applied=good)
    c.ks_ok(30, "platform", "ingress", good)
    c.git_new(300, "platform", "platform-repo", bad, "ingress: tune nginx buffers")
    for k in range(3):
        c.ks_fail(310 + k * 600, "platform", "ingress", bad, INGRESS_BUILD_ERR, reason="BuildFailed",
                  event=(k == 0))
    c.expect("build_failure", "Kustomization/platform/ingress", "platform")
    return c


@case
def build_failure_near_miss():
    # One broken commit, fixed by the next one before the second attempt.
    c = Case("build_failure_near_miss")
    good = rev_of("platform-good")
    bad = rev_of("platform-bad")
    fix = rev_of("platform-fix")
    c.gitrepo(0, "platform", "platform-repo", "https://github.com/acme/platform", interval="1m0s")
    c.ks(0, "platform", "ingress", ("platform", "platform-repo"), interval="10m0s", applied=good)
    c.git_new(300, "platform", "platform-repo", bad, "ingress: tune nginx buffers")
    c.ks_fail(310, "platform", "ingress", bad, INGRESS_BUILD_ERR, reason="BuildFailed")
    c.git_new(480, "platform", "platform-repo", fix, "ingress: fix indentation in nginx values")
    c.ssa(490, "platform", "ingress", fix, {"ConfigMap/platform/nginx-values": "configured"})
    c.ks_ok(491, "platform", "ingress", fix)
    return c


SOPS_ERR = ("decryption failed for 'db-credentials': Failed to get the data key required to decrypt the SOPS "
            "file.\n\nGroup 0: FAILED\n  age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p: FAILED\n"
            "    - | no identities specified\n\nRecovery failed because no master key was able to decrypt the file. "
            "In order for SOPS to recover the file, at least one key has to be successful, but none were.")


@case
def decryption_failure_fires():
    c = Case("decryption_failure_fires")
    rev = rev_of("secrets")
    c.ks(0, "apps", "secrets", ("apps", "apps-repo"), interval="10m0s", applied=rev_of("secrets-old"))
    for k in range(3):
        c.ks_fail(60 + k * 600, "apps", "secrets", rev, SOPS_ERR, reason="BuildFailed", event=(k == 0))
    c.expect("decryption_failure", "Kustomization/apps/secrets", "apps")
    return c


@case
def decryption_failure_near_miss():
    # One failure before the sops-age Secret was created, then decryption works.
    c = Case("decryption_failure_near_miss")
    rev = rev_of("secrets")
    c.ks(0, "apps", "secrets", ("apps", "apps-repo"), interval="10m0s", applied=rev_of("secrets-old"))
    c.ks_fail(60, "apps", "secrets", rev, SOPS_ERR, reason="BuildFailed")
    c.ssa(660, "apps", "secrets", rev, {"Secret/apps/db-credentials": "configured"})
    c.ks_ok(661, "apps", "secrets", rev)
    return c


RBAC_ERR = ("ConfigMap/team-b/settings dry-run failed (Forbidden): configmaps \"settings\" is forbidden: User "
            "\"system:serviceaccount:team-a:team-a-reconciler\" cannot patch resource \"configmaps\" in API group "
            "\"\" in the namespace \"team-b\"")


@case
def rbac_denied_fires():
    c = Case("rbac_denied_fires")
    rev = rev_of("team-a")
    c.ks(0, "team-a", "tenant-apps", ("team-a", "team-a-repo"), interval="10m0s", sa="team-a-reconciler",
         applied=rev_of("team-a-old"))
    c.ks_fail(60, "team-a", "tenant-apps", rev, RBAC_ERR)
    c.ks_fail(660, "team-a", "tenant-apps", rev, RBAC_ERR, event=False)
    c.expect("rbac_denied", "Kustomization/team-a/tenant-apps", "team-a")
    return c


@case
def rbac_denied_near_miss():
    # "403 Forbidden" from a chart repository is a provider credential problem, not
    # Kubernetes RBAC; it happens once and the next fetch works.
    c = Case("rbac_denied_near_miss")
    c.obj(0, "HelmRepository", "team-a", "internal-charts",
          {"interval": "5m0s", "url": "https://charts.example.com", "secretRef": {"name": "charts-auth"}})
    c.zap(60, "error", "Reconciler error", "HelmRepository", "team-a", "internal-charts",
          error="failed to fetch Helm repository index: failed to cache index to temporary file: failed to fetch "
                "https://charts.example.com/index.yaml : 403 Forbidden")
    c.zap(360, "info", "stored fetched index of 412.3 kB from 'https://charts.example.com'", "HelmRepository",
          "team-a", "internal-charts")
    c.zap(660, "info", "artifact up-to-date with remote revision: 'sha256:%s'" % sha("index")[:32] * 1,
          "HelmRepository", "team-a", "internal-charts")
    c.ks(0, "team-a", "tenant-apps", ("team-a", "team-a-repo"), interval="10m0s", sa="team-a-reconciler",
         applied=rev_of("team-a"))
    c.ks_ok(120, "team-a", "tenant-apps", rev_of("team-a"))
    c.forbid("git_auth_failure")
    return c


CONFLICT_ERR = ("Deployment/shop/web dry-run failed (Conflict): Apply failed with 1 conflict: conflict with "
                "\"kubectl-edit\" using apps/v1: .spec.template.spec.containers[name=\"web\"].resources.limits.memory")


@case
def apply_conflict_fires():
    c = Case("apply_conflict_fires")
    rev = rev_of("shop-web")
    c.ks(0, "shop", "web", ("shop", "shop-repo"), interval="10m0s", applied=rev_of("shop-web-old"))
    for k in range(3):
        c.ks_fail(60 + k * 600, "shop", "web", rev, CONFLICT_ERR, event=(k != 1))
    c.expect("apply_conflict", "Kustomization/shop/web", "shop")
    return c


@case
def apply_conflict_near_miss():
    # A transient optimistic-lock conflict, gone on the next run.
    c = Case("apply_conflict_near_miss")
    rev = rev_of("shop-web")
    c.ks(0, "shop", "web", ("shop", "shop-repo"), interval="10m0s", applied=rev_of("shop-web-old"))
    c.ks_fail(60, "shop", "web", rev,
              "Deployment/shop/web apply failed: Operation cannot be fulfilled on deployments.apps \"web\": the "
              "object has been modified; please apply your changes to the latest version and try again")
    c.ssa(660, "shop", "web", rev, {"Deployment/shop/web": "configured"})
    c.ks_ok(661, "shop", "web", rev)
    return c


def notif_line(c, t, level, msg, error=None, involved=None):
    d = {"level": level, "ts": iso_ms(t), "msg": msg}
    if involved:
        d["eventInvolvedObject"] = involved
    d["alert"] = {"name": "on-call", "namespace": "flux-system", "providerName": "slack"}
    if error:
        d["error"] = error
    c.add(t, dumps(d))


SLACK_ERR = ("failed to post to slack: request failed with status code 404: no_service")


@case
def notification_failure_fires():
    c = Case("notification_failure_fires")
    inv = {"kind": "Kustomization", "namespace": "shop", "name": "web", "apiVersion": "kustomize.toolkit.fluxcd.io/v1"}
    for k in range(3):
        t = 120 + k * 400
        notif_line(c, t, "error", "failed to send notification", error=SLACK_ERR, involved=inv)
        c.event(t, "Alert", "flux-system", "on-call", "NotificationDispatchFailed",
                "failed to send notification for Kustomization/shop/web: " + SLACK_ERR, type_="Warning",
                component="notification-controller")
    c.expect("notification_failure", "Alert/flux-system/on-call")
    return c


@case
def notification_failure_near_miss():
    # One failed post while Slack was degraded; every other event is delivered.
    c = Case("notification_failure_near_miss")
    inv = {"kind": "Kustomization", "namespace": "shop", "name": "web", "apiVersion": "kustomize.toolkit.fluxcd.io/v1"}
    notif_line(c, 120, "error", "failed to send notification",
               error="failed to post to slack: request failed with status code 503: service unavailable", involved=inv)
    for k in range(4):
        notif_line(c, 520 + k * 400, "info", "dispatching event", involved=inv)
    return c


IMG_ERR = ("scan failed: GET https://registry.acme.io/v2/shop/web/tags/list?n=1000: NAME_UNKNOWN: repository name "
           "not known to registry")


@case
def image_automation_failure_fires():
    c = Case("image_automation_failure_fires")
    c.obj(0, "ImageRepository", "shop", "web", {"image": "registry.acme.io/shop/web", "interval": "5m0s"})
    for k in range(4):
        t = 60 + k * 300
        c.zap(t, "error", IMG_ERR, "ImageRepository", "shop", "web", error="ReadOperationFailed")
        if k == 0:
            c.event(t, "ImageRepository", "shop", "web", "ReadOperationFailed", IMG_ERR, type_="Warning")
    c.expect("image_automation_failure", "ImageRepository/shop/web", "shop")
    return c


@case
def image_automation_failure_near_miss():
    # Two failed scans during a registry maintenance window, then scans succeed.
    c = Case("image_automation_failure_near_miss")
    c.obj(0, "ImageRepository", "shop", "web", {"image": "registry.acme.io/shop/web", "interval": "5m0s"})
    for k in range(2):
        c.zap(60 + k * 300, "error", IMG_ERR, "ImageRepository", "shop", "web", error="ReadOperationFailed")
    c.zap(660, "info", "successful scan: found 24 tags with checksum 3849102733", "ImageRepository", "shop", "web")
    c.zap(960, "info", "no change in repository configuration since last scan, next scan in 5m0s",
          "ImageRepository", "shop", "web")
    return c


# ======================================================================================
# memory_growth
# ======================================================================================
def memory_series(c, slope_mib_h, hours=3.0, base=210.0, step=600):
    rnd = random.Random(7)
    t = 0
    while t <= hours * 3600:
        noise = rnd.uniform(-1.5, 1.5)
        v = (base + slope_mib_h * t / 3600.0 + noise) * MIB
        c.metric(t, "process_resident_memory_bytes", int(v), "source-controller",
                 namespace="flux-system", container="manager")
        t += step


@case
def memory_growth_fires():
    c = Case("memory_growth_fires")
    memory_series(c, 30.0)
    for k in range(19):
        c.git_ok(30 + k * 600, "shop", "shop-repo", "https://github.com/acme/shop")
    c.expect("memory_growth", "Deployment/flux-system/source-controller")
    return c


@case
def memory_growth_near_miss():
    # 5 MiB/h over three hours (threshold 10 MiB/h): ordinary cache warm-up.
    c = Case("memory_growth_near_miss")
    memory_series(c, 5.0)
    for k in range(19):
        c.git_ok(30 + k * 600, "shop", "shop-repo", "https://github.com/acme/shop")
    return c


# ======================================================================================
# cross-cutting cases
# ======================================================================================
@case
def root_cause_grouping():
    # A new GitRepository with a bad deploy key: it never produces an artifact, so every
    # consumer waits on "Source artifact not found" for 40 minutes. One finding, not four.
    c = Case("root_cause_grouping")
    url = "ssh://git@github.com/acme/storefront"
    c.gitrepo(0, "storefront", "storefront", url, interval="1m0s", secret="storefront-deploy-key",
              ready=("False", "AuthenticationFailed", "failed to checkout and determine revision"))
    src = ("storefront", "storefront")
    for n in ("frontend", "backend"):
        c.ks(0, "storefront", n, src, interval="5m0s",
             ready=("False", "ArtifactFailed", "Source artifact not found, retrying in 30s"))
    c.ks(0, "marketing", "landing", src, interval="5m0s",
         ready=("False", "ArtifactFailed", "Source artifact not found, retrying in 30s"))
    err = ("failed to checkout and determine revision: unable to clone '%s': ssh: handshake failed: ssh: unable "
           "to authenticate, attempted methods [none publickey], no supported methods remain" % url)
    for k in range(40):
        c.git_err(20 + k * 60, "storefront", "storefront", err, reason="AuthenticationFailed", event=(k % 10 == 0))
    for k in range(16):
        t = 30 + k * 150
        for j, (ns, n) in enumerate([("storefront", "frontend"), ("storefront", "backend"), ("marketing", "landing")]):
            c.zap(t + j * 4, "info", "Source artifact not found, retrying in 30s", "Kustomization", ns, n)
    c.expect("git_auth_failure", "GitRepository/storefront/storefront", "storefront", ["Kustomization/storefront/frontend", "Kustomization/storefront/backend", "Kustomization/marketing/landing"]).forbid("stalled_reconciliation").forbid("network_degradation")
    return c


# ======================================================================================
# root-cause grouping (ARCHITECTURE.md "Root causes group symptoms"): one alert per root
# ======================================================================================
GH = "github.com"


def dns_err(url, host=GH):
    return ("failed to checkout and determine revision: unable to clone '%s': Get \"%s/info/refs?service="
            "git-upload-pack\": dial tcp: lookup %s on 10.96.0.10:53: no such host" % (url, url, host))


def host_outage(c, repos, start, end, recover=None):
    """GitRepositories [(ns, name)] polling github.com every minute; DNS fails for all of
    them from `start` to `end`; from `recover` on they fetch again."""
    for i, (ns, name) in enumerate(repos):
        url = "https://github.com/%s/%s" % (ns, name)
        c.gitrepo(0, ns, name, url, interval="1m0s")
        c.git_ok(20 + i, ns, name, url)
        t = start + i * 4
        k = 0
        while t < end:
            c.git_err(t, ns, name, dns_err(url), event=(k % 10 == 0))
            t += 60
            k += 1
        if recover is not None:
            for m in range(15):
                c.git_ok(recover + i * 4 + m * 60, ns, name, url)


OUTAGE_REPOS = [("platform", "fleet"), ("platform", "infra"), ("shop", "storefront"), ("shop", "checkout"),
                ("data", "pipelines"), ("data", "warehouse")]


@case
def host_outage_grouping():
    # github.com does not resolve for 50 minutes: six sources fail every minute. One
    # network finding lists all six; none of them raises a stalled finding of its own.
    c = Case("host_outage_grouping")
    host_outage(c, OUTAGE_REPOS, 300, 3300)
    c.expect("network_degradation", "Host//%s" % GH, impacted=["GitRepository/%s/%s" % r for r in OUTAGE_REPOS],
             impacted_count=len(OUTAGE_REPOS))
    c.forbid("stalled_reconciliation").max_alerting(1)
    return c


@case
def host_outage_recovers():
    # The same outage for 45 minutes, then DNS works again: the finding resolves once
    # every source fetched, and no stalled finding surfaces afterwards.
    c = Case("host_outage_recovers")
    host_outage(c, OUTAGE_REPOS[:5], 300, 3000, recover=3000)
    c.expect("network_degradation", "Host//%s" % GH, status="resolved", impacted_count=5)
    c.forbid("stalled_reconciliation").max_alerting(1)
    return c


@case
def host_outage_cross_tenant():
    # Sources of four tenants (tenant = namespace) behind the same broken host: the
    # finding names every tenant, and the one with the most sources as `tenant`.
    c = Case("host_outage_cross_tenant")
    repos = [("zeta", "apps"), ("alpha", "apps"), ("mike", "apps"), ("mike", "infra"), ("mike", "jobs"),
             ("kilo", "apps")]
    host_outage(c, repos, 300, 2700)
    c.expect("network_degradation", "Host//%s" % GH, tenant="mike", tenants=["alpha", "kilo", "mike", "zeta"],
             impacted_count=len(repos))
    c.forbid("stalled_reconciliation").max_alerting(1)
    return c


@case
def health_check_retries_no_loop():
    # A revision whose workloads never become healthy: each retry re-applies the
    # Deployment (`configured`), then the health check fails again. Retries, not a
    # drift fight.
    c = Case("health_check_retries_no_loop")
    rev = rev_of("checkout-v8")
    c.gitrepo(0, "shop", "shop-repo", "https://github.com/acme/shop", interval="1m0s")
    c.ks(0, "shop", "checkout", ("shop", "shop-repo"), interval="5m0s", applied=rev)
    out = {"Deployment/shop/checkout": "configured", "Deployment/shop/checkout-worker": "configured",
           "Service/shop/checkout": "unchanged"}
    for k in range(6):
        t = 60 + k * 420
        c.ssa(t, "shop", "checkout", rev, out)
        c.zap(t + 1, "info", "Running health checks for revision %s with a timeout of 5m0s" % rev,
              "Kustomization", "shop", "checkout")
        c.ks_fail(t + 301, "shop", "checkout", rev, hc_err(), dur=301.2, interval="5m0s",
                  reason="HealthCheckFailed", event=(k % 2 == 0))
    c.expect("health_check_failure", "Kustomization/shop/checkout", "shop")
    c.forbid("reconcile_loop").forbid("drift_detected").forbid("stalled_reconciliation").max_alerting(1)
    return c


@case
def drift_fight_after_retries():
    # Near miss of the above: one failed health check (a retry re-applies), the
    # rollout then succeeds; afterwards an HPA and Git fight over replicas with no
    # failures at all. That is a reconcile loop.
    c = Case("drift_fight_after_retries")
    rev = rev_of("frontend-v3")
    c.gitrepo(0, "shop", "shop-repo", "https://github.com/acme/shop", interval="1m0s")
    c.ks(0, "shop", "frontend", ("shop", "shop-repo"), interval="5m0s", applied=rev)
    out = {"Deployment/shop/frontend": "configured", "HorizontalPodAutoscaler/shop/frontend": "unchanged"}
    c.ssa(60, "shop", "frontend", rev, out)
    c.ks_fail(361, "shop", "frontend", rev, hc_err(), dur=301.2, interval="5m0s", reason="HealthCheckFailed")
    c.ssa(480, "shop", "frontend", rev, out)
    c.ks_ok(530, "shop", "frontend", rev, dur=50.2, interval="5m0s")
    for t in (900, 1200, 1500, 1800):
        c.ssa(t, "shop", "frontend", rev, out)
        c.ks_ok(t + 2, "shop", "frontend", rev, dur=2.3, interval="5m0s")
    c.expect("reconcile_loop", "Kustomization/shop/frontend", "shop", ["Deployment/shop/frontend"])
    return c


def missing_source_consumers(c, start, end, ks_names, hr_names, ns="apps", src="fleet"):
    for n in ks_names:
        c.ks(0, ns, n, (ns, src), interval="5m0s",
             ready=("False", "ArtifactFailed", "Source 'GitRepository/%s/%s' not found" % (ns, src)))
    t = start
    while t < end:
        for j, n in enumerate(ks_names):
            c.zap(t + j * 3, "info", "Source 'GitRepository/%s/%s' not found" % (ns, src), "Kustomization", ns, n)
        for j, n in enumerate(hr_names):
            msg = ("HelmChart '%s/%s-%s' is not ready: failed to get source: GitRepository.source.toolkit.fluxcd.io "
                   "\"%s\" not found" % (ns, ns, n, src))
            c.zap(t + 20 + j * 3, "error", "Reconciler error", "HelmRelease", ns, n, error=msg)
            if (t - start) % 1800 == 0:
                c.event(t + 20 + j * 3, "HelmRelease", ns, n, "ArtifactFailed", msg, type_="Warning")
        t += 150


@case
def missing_source_grouping():
    # The GitRepository `apps/fleet` was deleted (or never created): three
    # Kustomizations and two HelmReleases report it missing for 40 minutes. One
    # finding about the source, with its consumers impacted; none of its own each.
    c = Case("missing_source_grouping")
    ks_names, hr_names = ["web", "api", "jobs"], ["redis", "nats"]
    missing_source_consumers(c, 30, 2430, ks_names, hr_names)
    c.expect("dependency_blocked", "GitRepository/apps/fleet", "apps",
             ["Kustomization/apps/%s" % n for n in ks_names] + ["HelmRelease/apps/%s" % n for n in hr_names],
             root_cause="source_not_ready", impacted_count=5)
    c.forbid("stalled_reconciliation").max_alerting(1)
    return c


@case
def symptom_surfaces_after_root():
    # A source cannot authenticate for 20 minutes; both consumers wait on it. The
    # token is fixed and the source fetches: `web` recovers, but `reports` keeps
    # failing (its path is gone from the new commit). Once the root has resolved,
    # `reports` surfaces on its own; `web` stays quiet.
    c = Case("symptom_surfaces_after_root")
    url = "https://github.com/acme/analytics"
    c.gitrepo(0, "analytics", "analytics-repo", url, interval="1m0s", secret="analytics-token")
    src = ("analytics", "analytics-repo")
    old = rev_of("analytics-old")
    for n in ("web", "reports"):
        c.ks(0, "analytics", n, src, interval="5m0s", applied=old)
    err = ("failed to checkout and determine revision: unable to clone '%s': authentication required: "
           "Invalid username or token. Password authentication is not supported for Git operations." % url)
    for k in range(20):
        c.git_err(60 + k * 60, "analytics", "analytics-repo", err, reason="AuthenticationFailed",
                  event=(k % 5 == 0))
    for k in range(8):
        for j, n in enumerate(("web", "reports")):
            c.zap(90 + k * 150 + j * 3, "info", "Source artifact not found, retrying in 30s", "Kustomization",
                  "analytics", n)
    new = rev_of("analytics-fixed")
    c.git_new(1320, "analytics", "analytics-repo", new, "Rotate deploy token; drop reports overlay")
    for m in range(1, 50):
        c.git_ok(1320 + m * 60, "analytics", "analytics-repo", url)
    c.ssa(1340, "analytics", "web", new, {"Deployment/analytics/web": "configured"})
    c.ks_ok(1341, "analytics", "web", new, interval="5m0s")
    for k in range(10):
        c.ks_fail(1350 + k * 300, "analytics", "reports", new, path_err(), interval="5m0s",
                  reason="ArtifactFailed", event=(k % 3 == 0))
    c.expect("git_auth_failure", "GitRepository/analytics/analytics-repo", status="resolved",
             impacted=["Kustomization/analytics/web", "Kustomization/analytics/reports"])
    c.expect("stalled_reconciliation", "Kustomization/analytics/reports", "analytics")
    c.max_alerting(2)
    return c


def prefix(pod, line):
    return "[pod/%s/manager] %s" % (pod, line)


def cri(sec, line, stream="stderr"):
    return "%s.%09dZ %s F %s" % (T(sec).strftime("%Y-%m-%dT%H:%M:%S"), 123456789, stream, line)


def docker(sec, line):
    return dumps({"log": line + "\n", "stream": "stderr", "time": T(sec).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"})


@case
def mixed_envelopes():
    # One cluster, several capture tools and controller versions: a source whose deploy key
    # was revoked (CRI + docker json-file captures, 2021 `reconciler kind` layout), a
    # Kustomization build failure (kubectl logs --prefix) and a helm-controller crash loop
    # told by klog leader-election lines and Pod status.
    c = Case("mixed_envelopes")
    url = "ssh://git@github.com/acme/legacy-fleet"
    c.gitrepo(0, "legacy", "fleet", url, interval="1m0s")
    c.ks(0, "legacy", "apps", ("legacy", "fleet"), applied=rev_of("legacy"))
    c.ks(0, "legacy", "infra", ("legacy", "fleet"), applied=rev_of("legacy"))
    err = ("failed to checkout and determine revision: unable to clone '%s': ssh: handshake failed: knownhosts: "
           "key mismatch" % url)
    for k in range(18):
        t = 60 + k * 61
        if k % 2 == 0:
            line = dumps({"level": "error", "ts": iso_ms(t), "msg": "Reconciler error", "controller": "gitrepository",
                          "controllerGroup": "source.toolkit.fluxcd.io", "controllerKind": "GitRepository",
                          "GitRepository": {"name": "fleet", "namespace": "legacy"}, "namespace": "legacy",
                          "name": "fleet", "reconcileID": "%08d-1111-2222-3333-444455556666" % k, "error": err})
            c.add(t, cri(t, line))
        else:
            # An older source-controller: 2021 layout, epoch-seconds timestamp.
            line = dumps({"level": "error", "ts": T(t).timestamp(), "logger": "controller.gitrepository",
                          "msg": "Reconciler error", "reconciler group": "source.toolkit.fluxcd.io",
                          "reconciler kind": "GitRepository", "name": "fleet", "namespace": "legacy",
                          "error": err})
            c.add(t, docker(t, line))
    kpod = PODS["kustomize-controller"]
    bad = rev_of("legacy-bad")
    for k in range(2):
        t = 100 + k * 600
        line = dumps({"level": "error", "ts": iso_ms(t), "msg": "Reconciliation failed after 812.4ms, next try in 10m0s",
                      "controller": "kustomization", "controllerGroup": "kustomize.toolkit.fluxcd.io",
                      "controllerKind": "Kustomization", "Kustomization": {"name": "infra", "namespace": "legacy"},
                      "namespace": "legacy", "name": "infra", "reconcileID": "%08d-aaaa-bbbb-cccc-ddddeeeeffff" % k,
                      "revision": bad,
                      "error": "failed to decode Kubernetes apiVersion, kind and name from: "
                               "Object 'Kind' is missing in '{\"metadata\":{\"name\":\"legacy-config\"}}'"})
        c.add(t, prefix(kpod, line))
    hpod = PODS["helm-controller"]
    c.pod(0, "helm-controller", 0, {"running": {"startedAt": iso_s(0)}}, image_tag="v0.22.1")
    for n, t in enumerate((300, 700, 1100), start=1):
        c.add(t - 60, prefix(hpod, "E%s       1 leaderelection.go:330] error retrieving resource lock "
                                   "flux-system/5b6ca942.fluxcd.io: Get \"https://10.96.0.1:443/apis/coordination.k8s.io/"
                                   "v1/namespaces/flux-system/leases/5b6ca942.fluxcd.io\": context deadline exceeded"
                             % T(t - 60).strftime("%m%d %H:%M:%S.000000")))
        c.add(t - 59, prefix(hpod, "I%s       1 leaderelection.go:283] failed to renew lease "
                                   "flux-system/5b6ca942.fluxcd.io: timed out waiting for the condition"
                             % T(t - 59).strftime("%m%d %H:%M:%S.000000")))
        c.add(t - 58, prefix(hpod, dumps({"level": "error", "ts": iso_ms(t - 58), "logger": "setup",
                                          "msg": "problem running manager", "error": "leader election lost"})))
        c.pod(t, "helm-controller", n, {"waiting": {"reason": "CrashLoopBackOff"}}, ready=False, image_tag="v0.22.1",
              last={"terminated": {"reason": "Error", "exitCode": 1, "startedAt": iso_s(t - 400),
                                   "finishedAt": iso_s(t - 58)}})
    c.expect("git_auth_failure", "GitRepository/legacy/fleet", "legacy", ["Kustomization/legacy/apps", "Kustomization/legacy/infra"]).expect("build_failure", "Kustomization/legacy/infra").expect("controller_crashloop", "Deployment/flux-system/helm-controller")
    return c


@case
def lifecycle_resolved():
    # The auth failure fires, the token is rotated, the next fetch succeeds: the finding
    # is re-emitted as resolved with the same id.
    c = Case("lifecycle_resolved")
    rev = billing_setup(c)
    c.git_ok(30, "payments", "billing", BILLING_URL)
    err = ("failed to checkout and determine revision: unable to clone '%s': authentication required: "
           "Invalid username or token. Password authentication is not supported for Git operations." % BILLING_URL)
    for t in (92, 153, 214, 275):
        c.git_err(t, "payments", "billing", err, reason="AuthenticationFailed", event=False)
    new = rev_of("billing-after-rotation")
    c.git_new(336, "payments", "billing", new, "Rotate CI token")
    c.ks_ok(350, "payments", "billing-api", rev)
    for t in (397, 458, 519):
        c.zap(t, "info", "no changes since last reconciliation: observed revision '%s'" % new,
              "GitRepository", "payments", "billing")
    c.expect("git_auth_failure", "GitRepository/payments/billing", status="resolved")
    return c


@case
def healthy_baseline():
    # An hour of a healthy multi-tenant cluster: every controller busy, nothing wrong.
    c = Case("healthy_baseline")
    for tn in ("alpha", "bravo"):
        url = "https://github.com/acme/%s" % tn
        c.gitrepo(0, tn, "%s-repo" % tn, url, interval="5m0s")
        ks_background(c, tn, ["web", "api"], 60, 3600, every=600, src=(tn, "%s-repo" % tn))
        for k in range(12):
            c.git_ok(30 + k * 300, tn, "%s-repo" % tn, url)
    for ctrl in ("source-controller", "kustomize-controller", "helm-controller"):
        c.pod(0, ctrl, 0, {"running": {"startedAt": iso_s(0)}})
    for k in range(13):
        t = k * 300
        c.metric(t, "process_resident_memory_bytes", int((180 + (k % 4)) * MIB), "source-controller",
                 namespace="flux-system", container="manager")
        c.metric(t, "workqueue_depth", (k * 7) % 5, "kustomize-controller", name="kustomization",
                 controller="kustomization")
    for k in range(6):
        c.zap(200 + k * 600, "info", "release in-sync with desired state", "HelmRelease", "alpha", "redis")
        c.zap(250 + k * 600, "info", "no change in repository configuration since last scan, next scan in 10m0s",
              "ImageRepository", "bravo", "api")
        notif_line(c, 260 + k * 600, "info", "dispatching event",
                   involved={"kind": "Kustomization", "namespace": "alpha", "name": "web"})
    return c


@case
def revision_applied_audit():
    # Audit stream: two revisions applied (with change sets), a Helm upgrade, and an RBAC
    # denial mirrored to audit.
    c = Case("revision_applied_audit")
    url = "https://github.com/acme/shop"
    c.gitrepo(0, "shop", "shop-repo", url, interval="1m0s")
    c.ks(0, "shop", "web", ("shop", "shop-repo"), interval="10m0s", applied=rev_of("shop-1"))
    r2 = rev_of("shop-2")
    r3 = rev_of("shop-3")
    c.git_new(100, "shop", "shop-repo", r2, "web: add PodDisruptionBudget")
    c.ssa(110, "shop", "web", r2, {"Deployment/shop/web": "unchanged", "PodDisruptionBudget/shop/web": "created",
                                   "Service/shop/web": "unchanged"})
    c.ks_ok(111, "shop", "web", r2)
    c.git_new(700, "shop", "shop-repo", r3, "web: bump to 2.4.0")
    c.ssa(710, "shop", "web", r3, {"Deployment/shop/web": "configured", "PodDisruptionBudget/shop/web": "unchanged",
                                   "Service/shop/web": "unchanged"})
    c.ks_ok(711, "shop", "web", r3)
    c.event(900, "HelmRelease", "shop", "redis", "UpgradeSucceeded",
            "Helm upgrade succeeded for release shop/redis.v8 with chart redis@19.6.2",
            annotations={"helm.toolkit.fluxcd.io/revision": "19.6.2"})
    rbac = ("ClusterRole/shop-admin dry-run failed (Forbidden): clusterroles.rbac.authorization.k8s.io "
            "\"shop-admin\" is forbidden: User \"system:serviceaccount:shop:shop-reconciler\" cannot patch resource "
            "\"clusterroles\" in API group \"rbac.authorization.k8s.io\" at the cluster scope")
    c.ks(0, "shop", "rbac", ("shop", "shop-repo"), interval="10m0s", sa="shop-reconciler", applied=rev_of("shop-1"))
    c.ks_fail(720, "shop", "rbac", r3, rbac)
    c.expect("rbac_denied", "Kustomization/shop/rbac", "shop")
    return c


# ======================================================================================
# Pattern examples (patterns/<pattern>.yaml `examples:`): the small golden cases as they
# are, and smaller essences of the large ones. `fluxsight patterns test` runs them.
# ======================================================================================
def ex_guilty(quiet):
    # Quiet: the same skewed work, but the controller is under no pressure.
    c = Case("ex")
    for m in range(22):
        c.ks_ok(30 + m * 15, "bigco", "svc-%d" % (m % 4), rev_of("bigco"), dur=38.0, interval="1m0s")
    c.ks_ok(40, "smallco", "web", rev_of("smallco"), dur=2.0, interval="5m0s")
    c.ks_ok(340, "smallco", "web", rev_of("smallco"), dur=2.0, interval="5m0s")
    queue_series(c, 0, 390, lambda t: 8 if quiet or t < 30 else 170)
    return c


def ex_queue(quiet):
    c = Case("ex")
    queue_series(c, 0, 420, lambda t: 6 if t < 30 else (150 if not quiet or t < 210 else 6))
    return c


def ex_rate_limit(quiet):
    c = Case("ex")
    for i in range(3):
        c.gitrepo(0, "ml-research", "model-%d" % i, "https://github.com/acme-ml/model-%d" % i, interval="1m0s")
    c.gitrepo(0, "storefront", "site-0", "https://github.com/acme-web/site-0", interval="10m0s")
    hits = [(300, "ml-research", "model-0"), (303, "ml-research", "model-1"), (306, "ml-research", "model-2"),
            (330, "storefront", "site-0"), (360, "ml-research", "model-0")]
    for t, ns, n in hits[: 4 if quiet else 5]:
        url = "https://github.com/%s/%s" % ("acme-ml" if ns == "ml-research" else "acme-web", n)
        c.git_err(t, ns, n, err_429(url), event=False)
    return c


def ex_oom_cascade(quiet):
    c = Case("ex")
    c.gitrepo(0, "alpha", "monorepo", "https://github.com/alpha/monorepo", interval="1m0s", size=180 * MIB)
    c.gitrepo(0, "bravo", "apps", "https://github.com/bravo/apps", interval="10m0s", size=2 * MIB)
    c.pod(0, "source-controller", 0, {"running": {"startedAt": iso_s(0)}})
    c.pod(1202, "source-controller", 1, {"running": {"startedAt": iso_s(1202)}},
          last={"terminated": {"reason": "OOMKilled", "exitCode": 137, "startedAt": iso_s(0), "finishedAt": iso_s(1200)}})
    c.ks_fail(1260, "alpha", "services", rev_of("alpha"), download_err("alpha", "monorepo", "a1"), event=False)
    if quiet:
        c.ks_fail(1290, "alpha", "jobs", rev_of("alpha"), download_err("alpha", "monorepo", "a1"), event=False)
    else:
        c.ks_fail(1290, "bravo", "frontend", rev_of("bravo"), download_err("bravo", "apps", "b1"), event=False)
    c.git_ok(1400, "bravo", "apps", "https://github.com/bravo/apps")
    return c


def ex_controller_oom(quiet):
    c = Case("ex")
    c.pod(0, "kustomize-controller", 0, {"running": {"startedAt": iso_s(0)}})
    c.pod(1805, "kustomize-controller", 1, {"running": {"startedAt": iso_s(1805)}},
          last={"terminated": {"reason": "Error" if quiet else "OOMKilled", "exitCode": 2 if quiet else 137,
                               "startedAt": iso_s(0), "finishedAt": iso_s(1790)}})
    c.setup(1808, "info", "starting manager", envelope_pod=PODS["kustomize-controller"])
    return c


def ex_cycle(quiet):
    # Quiet: a chain (ingress -> monitoring -> crds) that waits on crds, then proceeds.
    c = Case("ex")
    if quiet:
        edges = [("monitoring", "crds"), ("ingress", "monitoring")]
        c.ks(0, FS, "crds", FS_SRC)
    else:
        edges = [("crds", "ingress"), ("monitoring", "crds"), ("ingress", "monitoring")]
    for n, d in edges:
        c.ks(0, FS, n, FS_SRC, depends=[(FS, d)])
    for k in range(3):
        for j, (n, d) in enumerate(edges):
            waiting(c, 30 + k * 30 + j, n, d, event=(k == 0))
    if quiet:
        c.ks_ok(100, FS, "crds", rev_of("fleet"))
        for j, n in enumerate(("monitoring", "ingress")):
            c.ks_ok(125 + j, FS, n, rev_of("fleet"))
    return c


def ex_memory(quiet):
    c = Case("ex")
    memory_series(c, 5.0 if quiet else 30.0, step=900)
    return c


def ex_stalled(quiet):
    c = Case("ex")
    reports_setup(c)
    for k in range(5 if quiet else 8):
        c.ks_fail(60 + k * 300, "analytics", "reports", rev_of("analytics"), path_err(), interval="5m0s", event=False)
    if quiet:
        c.ks_ok(1620, "analytics", "reports", rev_of("analytics-fixed"), interval="5m0s")
        c.ks_ok(2220, "analytics", "reports", rev_of("analytics-fixed"), interval="5m0s")
    return c


def ex_loop(quiet):
    # Quiet: a single drift correction is drift_detected, not a loop.
    c = Case("ex")
    rev = rev_of("shop-loop")
    c.ks(0, "shop", "frontend", ("shop", "shop-repo"), interval="5m0s", applied=rev)
    for t in (300,) if quiet else (300, 600, 900):
        c.ssa(t, "shop", "frontend", rev, {"Deployment/shop/frontend": "configured"})
    return c


CUSTOM_EXAMPLES = {
    "guilty_tenant": (ex_guilty, "bigco", "bigco"),
    "queue_backpressure": (ex_queue, "kustomize-controller", None),
    "rate_limit_exhaustion": (ex_rate_limit, "github.com", "ml-research"),
    "oom_cascade": (ex_oom_cascade, "source-controller", "alpha"),
    "controller_oom": (ex_controller_oom, "kustomize-controller", None),
    "dependency_cycle": (ex_cycle, "crds", None),
    "memory_growth": (ex_memory, "source-controller", None),
    "stalled_reconciliation": (ex_stalled, "reports", "analytics"),
    "reconcile_loop": (ex_loop, "frontend", "shop"),
}
# ======================================================================================
# workload_failure: the workload root cause below a health check (issue 17). Kubernetes
# documents in the shapes `kubectl get … -o json` prints (one per line), Events with the
# real message texts of report-and-workload-rca.md §2.2.
# ======================================================================================
def wl_meta(name, ns, uid=None, labels=None, annotations=None, owner=None, created=0):
    m = {"name": name, "namespace": ns, "creationTimestamp": iso_s(created)}
    if uid:
        m["uid"] = uid
    if labels:
        m["labels"] = labels
    if annotations:
        m["annotations"] = annotations
    if owner:
        kind, oname, ouid = owner
        ref = {"apiVersion": "apps/v1", "kind": kind, "name": oname, "controller": True,
               "blockOwnerDeletion": True}
        if ouid:
            ref["uid"] = ouid
        m["ownerReferences"] = [ref]
    return m


def wl_uid(*parts):
    h = sha("/".join(parts))
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])


KS_LABELS = {"app": "web", "kustomize.toolkit.fluxcd.io/name": "checkout",
             "kustomize.toolkit.fluxcd.io/namespace": "shop"}


def wl_deploy(c, sec, name, replicas=3, available=0, ready=0, updated=None, ns="shop", uid=True, labels=None,
              conditions=None, revision="2", kind="Deployment", extra_spec=None):
    st = {"observedGeneration": 2, "replicas": replicas,
          "updatedReplicas": replicas if updated is None else updated}
    if ready:
        st["readyReplicas"] = ready
    if available:
        st["availableReplicas"] = available
    if replicas - available:
        st["unavailableReplicas"] = replicas - available
    st["conditions"] = conditions or [
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
         "message": "Deployment does not have minimum availability.", "lastUpdateTime": iso_s(sec),
         "lastTransitionTime": iso_s(sec)},
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
         "message": 'ReplicaSet "%s-7d9f4c8b6" is progressing.' % name, "lastUpdateTime": iso_s(sec),
         "lastTransitionTime": iso_s(sec)}]
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": name, "image": "ghcr.io/acme/%s:v1.4.3" % name}]}}}
    spec.update(extra_spec or {})
    d = {"apiVersion": "apps/v1", "kind": kind,
         "metadata": wl_meta(name, ns, wl_uid(c.name, kind, name) if uid else None,
                             labels if labels is not None else dict(KS_LABELS, app=name),
                             {"deployment.kubernetes.io/revision": revision} if kind == "Deployment" else None,
                             created=sec),
         "spec": spec, "status": st}
    c.add(sec, dumps(d))


def wl_rs(c, sec, deploy, hash_="7d9f4c8b6", replicas=3, ns="shop", conditions=None):
    name = "%s-%s" % (deploy, hash_)
    d = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
         "metadata": wl_meta(name, ns, wl_uid(c.name, "ReplicaSet", name), {"app": deploy, "pod-template-hash": hash_},
                             {"deployment.kubernetes.io/revision": "2"},
                             ("Deployment", deploy, wl_uid(c.name, "Deployment", deploy)), created=sec),
         "spec": {"replicas": replicas}, "status": {"replicas": 0, "observedGeneration": 1}}
    if conditions:
        d["status"]["conditions"] = conditions
    c.add(sec, dumps(d))
    return name


def wl_pod(c, sec, owner_kind, owner, name, containers, phase="Pending", ns="shop", node="node-2", conditions=None,
           reason=None, message=None, volumes=None, limits=None, owner_uid=True):
    spec = {"containers": [{"name": cs["name"], "image": cs.get("image", "ghcr.io/acme/web:v1.4.3")}
                           for cs in containers]}
    if limits:
        for ct in spec["containers"]:
            ct["resources"] = {"limits": {"memory": limits}, "requests": {"memory": limits}}
    if node:
        spec["nodeName"] = node
    if volumes:
        spec["volumes"] = volumes
    st = {"phase": phase, "containerStatuses": containers}
    if conditions:
        st["conditions"] = conditions
    if reason:
        st["reason"] = reason
        st["message"] = message
    d = {"apiVersion": "v1", "kind": "Pod",
         "metadata": wl_meta(name, ns, wl_uid(c.name, "Pod", name), {"app": owner.split("-")[0]},
                             owner=(owner_kind, owner, wl_uid(c.name, owner_kind, owner) if owner_uid else None),
                             created=sec),
         "spec": spec, "status": st}
    c.add(sec, dumps(d))


def wl_event(c, sec, kind, name, reason, message, type_="Warning", component="kubelet", ns="shop", count=1,
             first=None, uid=True, field_path=None, host="node-2"):
    inv = {"kind": kind, "namespace": ns, "name": name, "apiVersion": "apps/v1" if kind in ("ReplicaSet", "StatefulSet", "Deployment") else "v1"}
    if uid:
        inv["uid"] = wl_uid(c.name, kind, name)
    if field_path:
        inv["fieldPath"] = field_path
    src = {"component": component}
    if component == "kubelet":
        src["host"] = host
    d = {"apiVersion": "v1", "kind": "Event",
         "metadata": {"name": "%s.%s" % (name, sha("%s%s%d" % (c.name, reason, c.n))[:16]), "namespace": ns,
                      "creationTimestamp": iso_s(first if first is not None else sec)},
         "involvedObject": inv, "reason": reason, "message": message, "type": type_, "source": src,
         "count": count, "firstTimestamp": iso_s(first if first is not None else sec), "lastTimestamp": iso_s(sec),
         "reportingComponent": component}
    c.add(sec, dumps(d))


def wl_waiting(name, reason, message=None, restarts=0, last=None, image="ghcr.io/acme/web:v1.4.3"):
    cs = {"name": name, "ready": False, "restartCount": restarts, "image": image, "started": False,
          "state": {"waiting": {"reason": reason}}}
    if message:
        cs["state"]["waiting"]["message"] = message
    if last:
        cs["lastState"] = {"terminated": last}
    return cs


def wl_running(name, ready=False, restarts=0):
    return {"name": name, "ready": ready, "restartCount": restarts, "image": "ghcr.io/acme/web:v1.4.3",
            "started": True, "state": {"running": {"startedAt": iso_s(60)}}}


def wl_hc_err(objs, dur="5m0.00158s", early=False):
    items = ", ".join("%s status: '%s'" % (o, s) for o, s in objs)
    if early:
        return "health check failed after %s: failed early due to stalled resources: [%s]" % (dur, items)
    return "health check failed after %s: timeout waiting for: [%s]" % (dur, items)


WEB = [("Deployment/shop/web", "InProgress")]
KS_CHAIN = ["Kustomization/shop/checkout:flux", "Deployment/shop/web:label",
            "ReplicaSet/shop/web-7d9f4c8b6:ownerRef"]


def wl_flux(c, attempts=2, objs=None, early=False, start=60):
    """Kustomization shop/checkout applies and fails its health check `attempts` times."""
    rev = rev_of("checkout-v8")
    c.ks(0, "shop", "checkout", ("shop", "shop-repo"), interval="10m0s", applied=rev_of("checkout-v7"))
    for k in range(attempts):
        t = start + k * 600
        c.ssa(t, "shop", "checkout", rev, {"Deployment/shop/web": "configured" if k == 0 else "unchanged"})
        c.zap(t + 1, "info", "Running health checks for revision %s with a timeout of 5m0s" % rev,
              "Kustomization", "shop", "checkout")
        c.ks_fail(t + 301, "shop", "checkout", rev, wl_hc_err(objs or WEB, early=early), dur=301.2,
                  reason="HealthCheckFailed")
    return rev


# The chain ends at the first Pod (by name) of the cause's class.
def wl_expect(c, stage, subclass, chain, coverage="full", reasons=None, params=None, subject="Deployment/shop/web",
              flux="Kustomization/shop/checkout", tenant="shop"):
    w = {"stage": stage, "subclass": subclass, "chain": chain, "coverage": coverage,
         "coverage_reasons": reasons or []}
    if params:
        w["params"] = params
    c.expect("workload_failure", subject, tenant, impacted=[flux], workload=w)
    c.forbid("health_check_failure")
    c.forbid("stalled_reconciliation")
    c.max_alerting(1)


POD_A, POD_B, POD_C = "web-7d9f4c8b6-x2x7k", "web-7d9f4c8b6-q8k2m", "web-7d9f4c8b6-p2lqz"
IMG = "ghcr.io/acme/web:v1.4.3"
NOT_FOUND = ('Failed to pull image "%s": rpc error: code = NotFound desc = failed to pull and unpack image "%s": '
             'failed to resolve reference "%s": %s: not found' % (IMG, IMG, IMG, IMG))


@case
def workload_failure_fires():
    # Image pull stage: the tag does not exist. Health check folded under the root.
    c = Case("workload_failure_fires")
    wl_deploy(c, 61, "web")
    wl_rs(c, 61, "web")
    for i, p in enumerate((POD_A, POD_B, POD_C)):
        wl_pod(c, 62 + i, "ReplicaSet", "web-7d9f4c8b6", p,
               [wl_waiting("web", "ImagePullBackOff", 'Back-off pulling image "%s"' % IMG)])
        wl_event(c, 70 + i, "Pod", p, "Pulling", 'Pulling image "%s"' % IMG, type_="Normal",
                 field_path="spec.containers{web}")
        wl_event(c, 300 + i, "Pod", p, "Failed", NOT_FOUND, count=6, first=71 + i, field_path="spec.containers{web}")
        wl_event(c, 300 + i, "Pod", p, "BackOff", 'Back-off pulling image "%s"' % IMG, type_="Normal", count=9,
                 first=72 + i, field_path="spec.containers{web}")
    wl_flux(c)
    wl_expect(c, "image", "tag_or_image_not_found", KS_CHAIN + ["Pod/shop/%s:ownerRef" % POD_C],
              params={"image": IMG})
    return c


@case
def workload_failure_near_miss():
    # One health-check timeout of a slow rollout: only benign Events, then it passes.
    c = Case("workload_failure_near_miss")
    rev = wl_flux(c, attempts=1)
    wl_deploy(c, 61, "web")
    wl_rs(c, 61, "web")
    for i, p in enumerate((POD_A, POD_B, POD_C)):
        wl_event(c, 62 + i, "Pod", p, "Scheduled", "Successfully assigned shop/%s to node-2" % p,
                 type_="Normal", component="default-scheduler")
        wl_event(c, 70 + i, "Pod", p, "Pulling", 'Pulling image "%s"' % IMG, type_="Normal")
        wl_event(c, 400 + i, "Pod", p, "Pulled", 'Successfully pulled image "%s" in 5m20.2s' % IMG, type_="Normal")
        wl_event(c, 401 + i, "Pod", p, "Started", "Started container web", type_="Normal")
    c.ssa(961, "shop", "checkout", rev, {"Deployment/shop/web": "unchanged"})
    c.zap(1009, "info", "Health check passed in 48.02s", "Kustomization", "shop", "checkout")
    c.ks_ok(1010, "shop", "checkout", rev, dur=49.1)
    c.forbid("health_check_failure")
    return c


@case
def workload_create_quota():
    c = Case("workload_create_quota")
    msg = ('Error creating: pods "web-7d9f4c8b6-" is forbidden: exceeded quota: compute-quota, requested: '
           'limits.cpu=500m, used: limits.cpu=2, limited: limits.cpu=2')
    wl_deploy(c, 61, "web", conditions=[
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated",
         "message": 'Created new replica set "web-7d9f4c8b6"', "lastTransitionTime": iso_s(61)},
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": msg[len("Error creating: "):],
         "lastTransitionTime": iso_s(62)}])
    wl_rs(c, 61, "web", conditions=[{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                     "message": msg[len("Error creating: "):], "lastTransitionTime": iso_s(62)}])
    wl_event(c, 340, "ReplicaSet", "web-7d9f4c8b6", "FailedCreate", msg, component="replicaset-controller",
             count=14, first=62)
    wl_flux(c)
    wl_expect(c, "create", "quota_exceeded", KS_CHAIN, params={"quota": "compute-quota"})
    return c


@case
def workload_unschedulable_taint():
    c = Case("workload_unschedulable_taint")
    msg = ("0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
           "2 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/3 nodes are available: "
           "3 Preemption is not helpful for scheduling.")
    wl_deploy(c, 61, "web")
    wl_rs(c, 61, "web")
    cond = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg,
             "lastTransitionTime": iso_s(62)}]
    for i, p in enumerate((POD_A, POD_B, POD_C)):
        wl_pod(c, 62 + i, "ReplicaSet", "web-7d9f4c8b6", p, [], node=None, conditions=cond)
        wl_event(c, 330 + i, "Pod", p, "FailedScheduling", msg, component="default-scheduler", count=5, first=62 + i)
    wl_flux(c)
    wl_expect(c, "schedule", "untolerated_taint", KS_CHAIN + ["Pod/shop/%s:ownerRef" % POD_C],
              params={"taint": "node-role.kubernetes.io/control-plane:", "nodes": "3"})
    return c


@case
def workload_volume_storageclass():
    c = Case("workload_volume_storageclass")
    wl_deploy(c, 61, "db", replicas=1, kind="StatefulSet",
              extra_spec={"serviceName": "db", "volumeClaimTemplates": [
                  {"metadata": {"name": "data"},
                   "spec": {"storageClassName": "fast-ssd", "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "10Gi"}}}}]})
    c.add(62, dumps({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                     "metadata": wl_meta("data-db-0", "shop", wl_uid(c.name, "PersistentVolumeClaim", "data-db-0"),
                                         {"app": "db"}, created=62),
                     "spec": {"storageClassName": "fast-ssd", "accessModes": ["ReadWriteOnce"],
                              "resources": {"requests": {"storage": "10Gi"}}},
                     "status": {"phase": "Pending"}}))
    unbound = ("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes "
               "are available: 3 Preemption is not helpful for scheduling.")
    wl_pod(c, 62, "StatefulSet", "db", "db-0", [], node=None,
           volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}],
           conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unbound,
                        "lastTransitionTime": iso_s(62)}])
    wl_event(c, 320, "PersistentVolumeClaim", "data-db-0", "ProvisioningFailed",
             'storageclass.storage.k8s.io "fast-ssd" not found', component="persistentvolume-controller",
             count=17, first=62)
    wl_event(c, 330, "Pod", "db-0", "FailedScheduling", unbound, component="default-scheduler", count=5, first=62)
    wl_flux(c, objs=[("StatefulSet/shop/db", "InProgress")])
    wl_expect(c, "volume", "storage_class_missing",
              ["Kustomization/shop/checkout:flux", "StatefulSet/shop/db:label", "Pod/shop/db-0:ownerRef",
               "PersistentVolumeClaim/shop/data-db-0:claim"],
              params={"storage_class": "fast-ssd"}, subject="StatefulSet/shop/db")
    return c


@case
def workload_config_configmap():
    c = Case("workload_config_configmap")
    wl_deploy(c, 61, "web")
    wl_rs(c, 61, "web")
    for i, p in enumerate((POD_A, POD_B, POD_C)):
        wl_pod(c, 62 + i, "ReplicaSet", "web-7d9f4c8b6", p,
               [wl_waiting("web", "CreateContainerConfigError", 'configmap "web-config" not found')])
        wl_event(c, 70 + i, "Pod", p, "Pulled", 'Container image "%s" already present on machine' % IMG,
                 type_="Normal", count=12, field_path="spec.containers{web}")
        wl_event(c, 300 + i, "Pod", p, "Failed", 'Error: configmap "web-config" not found', count=12, first=70 + i,
                 field_path="spec.containers{web}")
    wl_flux(c)
    wl_expect(c, "config", "configmap_missing", KS_CHAIN + ["Pod/shop/%s:ownerRef" % POD_C],
              params={"configmap": "web-config"})
    return c


@case
def workload_crash_oom():
    c = Case("workload_crash_oom")
    wl_deploy(c, 61, "web")
    wl_rs(c, 61, "web")
    last = {"reason": "OOMKilled", "exitCode": 137, "startedAt": iso_s(280), "finishedAt": iso_s(290)}
    for i, p in enumerate((POD_A, POD_B, POD_C)):
        wl_pod(c, 300 + i, "ReplicaSet", "web-7d9f4c8b6", p,
               [wl_waiting("web", "CrashLoopBackOff",
                           "back-off 2m40s restarting failed container=web pod=%s_shop(%s)" % (
                               p, wl_uid(c.name, "Pod", p)), restarts=5, last=last)], phase="Running", limits="128Mi")
        wl_event(c, 330 + i, "Pod", p, "BackOff",
                 "Back-off restarting failed container web in pod %s_shop(%s)" % (p, wl_uid(c.name, "Pod", p)),
                 count=21, first=100 + i, field_path="spec.containers{web}")
    wl_flux(c)
    wl_expect(c, "crash", "oom_killed", KS_CHAIN + ["Pod/shop/%s:ownerRef" % POD_C],
              params={"container": "web", "exit_code": "137", "limit": "128Mi"})
    return c


@case
def workload_node_evicted():
    c = Case("workload_node_evicted")
    wl_deploy(c, 61, "web")
    wl_rs(c, 61, "web")
    msg = ("The node was low on resource: memory. Threshold quantity: 100Mi, available: 81204Ki. Container web was "
           "using 1452360Ki, request is 0, has larger consumption of memory. ")
    for i, p in enumerate((POD_A, POD_B, POD_C)):
        wl_pod(c, 200 + i, "ReplicaSet", "web-7d9f4c8b6", p,
               [{"name": "web", "ready": False, "restartCount": 0, "image": IMG,
                 "state": {"terminated": {"reason": "ContainerStatusUnknown", "exitCode": 137,
                                          "message": "The container could not be located when the pod was terminated"}}}],
               phase="Failed", reason="Evicted", message=msg)
        wl_event(c, 200 + i, "Pod", p, "Evicted", msg, first=200 + i)
    wl_flux(c)
    wl_expect(c, "node", "evicted", KS_CHAIN + ["Pod/shop/%s:ownerRef" % POD_C], params={"resource": "memory"})
    return c


@case
def workload_probe_readiness():
    c = Case("workload_probe_readiness")
    wl_deploy(c, 61, "web")
    wl_rs(c, 61, "web")
    for i, p in enumerate((POD_A, POD_B, POD_C)):
        wl_pod(c, 90 + i, "ReplicaSet", "web-7d9f4c8b6", p, [wl_running("web")], phase="Running",
               conditions=[{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                            "message": "containers with unready status: [web]", "lastTransitionTime": iso_s(90)}])
        wl_event(c, 340 + i, "Pod", p, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503",
                 count=48, first=95 + i, field_path="spec.containers{web}")
    wl_flux(c)
    wl_expect(c, "probe", "readiness", KS_CHAIN + ["Pod/shop/%s:ownerRef" % POD_C], params={"probe": "Readiness"})
    return c


@case
def workload_none_found():
    # The Deployment says ProgressDeadlineExceeded (Flux fails early) and nothing else.
    c = Case("workload_none_found")
    wl_deploy(c, 61, "web", conditions=[
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
         "message": "Deployment does not have minimum availability.", "lastTransitionTime": iso_s(61)},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "web-7d9f4c8b6" has timed out progressing.', "lastTransitionTime": iso_s(200)}])
    wl_rs(c, 61, "web")
    for i, p in enumerate((POD_A, POD_B, POD_C)):
        wl_pod(c, 90 + i, "ReplicaSet", "web-7d9f4c8b6", p, [wl_running("web")], phase="Running")
    wl_flux(c, objs=[("Deployment/shop/web", "Failed")], early=True)
    wl_expect(c, "none", "progress_deadline_exceeded", KS_CHAIN)
    return c


@case
def workload_helm_timeout():
    # The old helm-controller wording names no object: linked by the release labels.
    c = Case("workload_helm_timeout")
    hr_setup(c, "3.2.0")
    labels = {"app.kubernetes.io/name": "payments-api", "app.kubernetes.io/managed-by": "Helm",
              "helm.toolkit.fluxcd.io/name": "payments-api", "helm.toolkit.fluxcd.io/namespace": "payments"}
    wl_deploy(c, 61, "payments-api", replicas=2, ns="payments", labels=labels)
    rs = "payments-api-5b7d9c6f4"
    c.add(61, dumps({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                     "metadata": wl_meta(rs, "payments", wl_uid(c.name, "ReplicaSet", rs),
                                         {"pod-template-hash": "5b7d9c6f4"},
                                         {"deployment.kubernetes.io/revision": "2"},
                                         ("Deployment", "payments-api",
                                          wl_uid(c.name, "Deployment", "payments-api")), created=61),
                     "spec": {"replicas": 2}, "status": {"replicas": 2}}))
    img = "registry.acme.io/payments/api:3.2.0"
    denied = ('Failed to pull image "%s": rpc error: code = Unknown desc = failed to pull and unpack image "%s": '
              'failed to resolve reference "%s": pull access denied, repository does not exist or may require '
              'authorization: server message: insufficient_scope: authorization failed' % (img, img, img))
    for i, p in enumerate(("payments-api-5b7d9c6f4-k2x9d", "payments-api-5b7d9c6f4-m7q4w")):
        wl_pod(c, 62 + i, "ReplicaSet", rs, p, [wl_waiting("api", "ImagePullBackOff",
                                                           'Back-off pulling image "%s"' % img, image=img)],
               ns="payments")
        wl_event(c, 300 + i, "Pod", p, "Failed", denied, ns="payments", count=7, first=70 + i,
                 field_path="spec.containers{api}")
    for t in (400, 1100, 1800):
        c.zap(t - 300, "info", "running 'upgrade' action with timeout of 5m0s", "HelmRelease", "payments",
              "payments-api")
        c.zap(t, "error", "failed to run 'upgrade' action", "HelmRelease", "payments", "payments-api",
              error="Helm upgrade failed: timed out waiting for the condition")
        c.event(t, "HelmRelease", "payments", "payments-api", "UpgradeFailed",
                "Helm upgrade failed: timed out waiting for the condition", type_="Warning",
                annotations={"helm.toolkit.fluxcd.io/revision": "3.2.0"})
    wl_expect(c, "image", "registry_auth",
              ["HelmRelease/payments/payments-api:flux", "Deployment/payments/payments-api:label",
               "ReplicaSet/payments/%s:ownerRef" % rs, "Pod/payments/payments-api-5b7d9c6f4-k2x9d:ownerRef"],
              params={"image": img}, subject="Deployment/payments/payments-api", flux="HelmRelease/payments/payments-api",
              tenant="payments")
    c.forbid("helm_release_failure")
    return c


@case
def workload_events_expired():
    # Health check failed, the Deployment is known from an earlier snapshot, but no
    # Event or Pod status of it is left in the window.
    c = Case("workload_events_expired")
    wl_deploy(c, 0, "web")
    wl_flux(c, start=60)
    wl_expect(c, "none", "no_evidence", ["Kustomization/shop/checkout:flux", "Deployment/shop/web:label"],
              coverage="partial", reasons=["events_expired"])
    return c


@case
def workload_name_only():
    # `kubectl get events` as text-free JSON without uids, no documents: linked by name.
    c = Case("workload_name_only")
    msg = ("0/4 nodes are available: 4 Insufficient cpu. preemption: 0/4 nodes are available: 4 No preemption "
           "victims found for incoming pod.")
    for i, p in enumerate((POD_A, POD_B)):
        wl_event(c, 330 + i, "Pod", p, "FailedScheduling", msg, component="default-scheduler", count=5,
                 first=62 + i, uid=False)
    wl_event(c, 61, "ReplicaSet", "web-7d9f4c8b6", "SuccessfulCreate", "Created pod: %s" % POD_A, type_="Normal",
             component="replicaset-controller", uid=False)
    wl_flux(c)
    wl_expect(c, "schedule", "insufficient_cpu",
              ["Kustomization/shop/checkout:flux", "Deployment/shop/web:health_check",
               "Pod/shop/%s:name" % POD_B],
              coverage="partial", reasons=["no_uids"], params={"resource": "cpu", "nodes": "4"})
    return c



EXAMPLE_MAX_LINES = 40


def example_inputs(pattern, built):
    """(fire input, quiet input, subject prefix, tenant) for one pattern."""
    if pattern in CUSTOM_EXAMPLES:
        fn, subject, tenant = CUSTOM_EXAMPLES[pattern]
        return lines_of(fn(False)), lines_of(fn(True)), subject, tenant
    fire, quiet = built[pattern + "_fires"], built[pattern + "_near_miss"]
    e = next(e for e in fire.present if e["pattern"] == pattern)
    subject = e.get("subject", "").rsplit("/", 1)[-1] or None
    return lines_of(fire), lines_of(quiet), subject, e.get("tenant")


def lines_of(c):
    return [text for _, _, text in sorted(c.lines, key=lambda x: (x[0], x[1]))]


def yaml_str(s):
    return json.dumps(s)


def write_examples(built):
    pdir = os.path.join(HERE, "..", "..", "patterns")
    for pattern in sorted({n.rsplit("_fires", 1)[0] for n in built if n.endswith("_fires")}):
        fire, quiet, subject, tenant = example_inputs(pattern, built)
        for which, lines in (("fire", fire), ("quiet", quiet)):
            assert len(lines) <= EXAMPLE_MAX_LINES, "%s %s example has %d lines" % (pattern, which, len(lines))
        out = ["examples:  # written by tests/golden/make_cases.py"]
        for name, expect, lines in (("fires", "fire", fire), ("near miss", "quiet", quiet)):
            out.append("  - name: %s" % yaml_str(name))
            out.append("    expect: %s" % expect)
            if expect == "fire" and subject:
                out.append("    subject: %s" % yaml_str(subject))
            if expect == "fire" and tenant:
                out.append("    tenant: %s" % yaml_str(tenant))
            out.append("    input: |")
            out.extend("      " + l for l in lines)
        path = os.path.join(pdir, pattern + ".yaml")
        text = open(path).read()
        i = text.find("\nexamples:")
        if i >= 0:
            text = text[: i + 1]
        if not text.endswith("\n"):
            text += "\n"
        with open(path, "w") as f:
            f.write(text + "\n".join(out) + "\n")


def main():
    names = set()
    built = {}
    for fn in CASES:
        c = fn()
        assert c.name == fn.__name__, c.name
        # Naming convention: <pattern>_fires must end with a firing finding of the
        # pattern, <pattern>_near_miss must never produce one.
        if c.name.endswith("_fires"):
            p = c.name[: -len("_fires")]
            if not any(e["pattern"] == p for e in c.present):
                c.expect(p)
        elif c.name.endswith("_near_miss"):
            c.forbid(c.name[: -len("_near_miss")])
        names.add(c.name)
        built[c.name] = c
        c.write()
    # Remove inputs of cases that no longer exist (keep their expected files to review).
    for d in sorted(os.listdir(HERE)):
        p = os.path.join(HERE, d)
        if os.path.isdir(p) and d not in names and os.path.exists(os.path.join(p, "input.log")):
            shutil.rmtree(p)
    write_examples(built)
    print("wrote %d cases and pattern examples" % len(names))


if __name__ == "__main__":
    main()

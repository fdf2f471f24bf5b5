#!/usr/bin/env python3
"""Writes samples/demo/incident.log: a small, deterministic Flux incident capture.

Two hours of a 4-tenant cluster. At 10:20 the deploy token of tenant `payments`
expires: its GitRepository fails to authenticate and its three Kustomizations stop
getting artifacts. At 10:40 the `shop` HelmRelease upgrade times out until retries are
exhausted. Everything else stays healthy (and is recorded in the audit stream).

The capture mixes forms on purpose: current zap JSON, a kubectl --prefix envelope,
CRI lines, Kubernetes Events and object snapshots.

  python3 scripts/make-demo.py > samples/demo/incident.log
"""
import json
import random
from datetime import datetime, timedelta, timezone

rnd = random.Random(7)
T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=timezone.utc)
TENANTS = ["payments", "search", "shop", "platform"]
out = []


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def sha():
    return "".join(rnd.choice("0123456789abcdef") for _ in range(40))


def zap(t, level, msg, kind, ns, name, **kw):
    ctl = {"GitRepository": "gitrepository", "Kustomization": "kustomization", "HelmRelease": "helmrelease"}[kind]
    grp = {"GitRepository": "source", "Kustomization": "kustomize", "HelmRelease": "helm"}[kind]
    d = {"level": level, "ts": ts(t), "msg": msg, "controller": ctl,
         "controllerGroup": f"{grp}.toolkit.fluxcd.io", "controllerKind": kind,
         kind: {"name": name, "namespace": ns}, "namespace": ns, "name": name,
         "reconcileID": f"{rnd.getrandbits(32):08x}-{rnd.getrandbits(16):04x}-{rnd.getrandbits(16):04x}-{rnd.getrandbits(16):04x}-{rnd.getrandbits(48):012x}"}
    d.update(kw)
    return (t, json.dumps(d, separators=(",", ":")))


def event(t, kind, ns, name, reason, msg, typ="Normal", comp="kustomize-controller", rev=None):
    group = {"GitRepository": "source", "Kustomization": "kustomize", "HelmRelease": "helm"}[kind]
    ann = {f"{group}.toolkit.fluxcd.io/revision": rev} if rev else {}
    d = {"apiVersion": "v1", "kind": "Event",
         "metadata": {"name": f"{name}.{rnd.getrandbits(64):016x}", "namespace": ns, "annotations": ann},
         "involvedObject": {"kind": kind, "namespace": ns, "name": name,
                            "apiVersion": f"{group}.toolkit.fluxcd.io/v1"},
         "reason": reason, "message": msg, "type": typ, "source": {"component": comp}, "count": 1,
         "firstTimestamp": ts(t)[:19] + "Z", "lastTimestamp": ts(t)[:19] + "Z"}
    return (t, json.dumps(d, separators=(",", ":")))


repos = {t: (f"{t}-config", sha()) for t in TENANTS}
ks = {t: [f"{t}-{c}" for c in ("app", "workers", "config")] for t in TENANTS}

# Object snapshots at start: sources and their consumers (the dependency graph).
for ten in TENANTS:
    name, rev = repos[ten]
    url = f"https://github.com/example-{ten}/{name}"
    out.append((T0, json.dumps({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": ten, "generation": 1},
        "spec": {"interval": "1m0s", "url": url, "ref": {"branch": "main"}, "secretRef": {"name": "deploy-token"}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                   "message": f"stored artifact for revision 'main@sha1:{rev}'", "lastTransitionTime": "2026-03-02T09:00:00Z"}],
                   "artifact": {"revision": f"main@sha1:{rev}", "size": 48213}}}, separators=(",", ":"))))
    for k in ks[ten]:
        out.append((T0, json.dumps({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": k, "namespace": ten, "generation": 1},
            "spec": {"interval": "5m0s", "path": f"./{k}", "prune": True,
                     "sourceRef": {"kind": "GitRepository", "name": name, "namespace": ten}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                       "message": f"Applied revision: main@sha1:{rev}", "lastTransitionTime": "2026-03-02T09:00:00Z"}],
                       "lastAppliedRevision": f"main@sha1:{rev}"}}, separators=(",", ":"))))

EXPIRE = T0 + timedelta(minutes=20)
HELM_BREAK = T0 + timedelta(minutes=40)
END = T0 + timedelta(hours=2)

# Sources: poll every minute.
for ten in TENANTS:
    name, rev = repos[ten]
    t = T0 + timedelta(seconds=rnd.randint(1, 50))
    while t < END:
        if ten == "payments" and t >= EXPIRE:
            err = (f"failed to checkout and determine revision: unable to clone "
                   f"'https://github.com/example-{ten}/{name}': authentication required: Invalid username or password")
            out.append(zap(t, "error", err, "GitRepository", ten, name, error="GitOperationFailed"))
            out.append(zap(t + timedelta(milliseconds=2), "error", "Reconciler error", "GitRepository", ten, name, error=err))
            out.append(event(t, "GitRepository", ten, name, "GitOperationFailed", err, "Warning", "source-controller"))
        elif ten == "search" and t.minute == 30 and t.hour == 10:
            rev = sha()
            repos[ten] = (name, rev)
            msg = "stored artifact for commit 'Fix error handling in the indexer'"
            out.append(zap(t, "info", msg, "GitRepository", ten, name))
            out.append(event(t, "GitRepository", ten, name, "NewArtifact", msg, comp="source-controller", rev=f"main@sha1:{rev}"))
        else:
            out.append(zap(t, "info", f"no changes since last reconciliation: observed revision 'main@sha1:{rev}'",
                           "GitRepository", ten, name))
        t += timedelta(minutes=1, milliseconds=rnd.randint(0, 900))

# Kustomizations: every 5 minutes; payments' ones lose their artifact after expiry.
for ten in TENANTS:
    for k in ks[ten]:
        t = T0 + timedelta(seconds=rnd.randint(5, 290))
        applied = None
        while t < END:
            rev = f"main@sha1:{repos[ten][1]}"
            if ten == "payments" and t >= EXPIRE + timedelta(minutes=3):
                out.append(zap(t, "info", "Source artifact not found, retrying in 30s", "Kustomization", ten, k))
                t += timedelta(seconds=30)
                continue
            if applied != rev and applied is not None:
                out.append(zap(t, "info", "server-side apply completed", "Kustomization", ten, k,
                               output={f"Deployment/{ten}/{k}": "configured", f"Service/{ten}/{k}": "unchanged"}, revision=rev))
                out.append(event(t, "Kustomization", ten, k, "Progressing", f"Deployment/{ten}/{k} configured", rev=rev))
            else:
                out.append(zap(t, "info", "server-side apply completed", "Kustomization", ten, k,
                               output={f"Deployment/{ten}/{k}": "unchanged", f"Service/{ten}/{k}": "unchanged"}, revision=rev))
            applied = rev
            d = rnd.uniform(0.6, 3.5)
            out.append(zap(t + timedelta(seconds=d), "info", f"Reconciliation finished in {d:.9f}s, next run in 5m0s",
                           "Kustomization", ten, k, revision=rev))
            t += timedelta(minutes=5, milliseconds=rnd.randint(0, 900))

# The shop HelmRelease: upgrades time out from 10:40 until retries are exhausted.
t = HELM_BREAK
for i, ver in enumerate(["3.1.0", "3.1.1", "3.1.2"]):
    out.append(zap(t, "info", "running 'upgrade' action with timeout of 5m0s", "HelmRelease", "shop", "storefront"))
    t += timedelta(minutes=5)
    err = f"Helm upgrade failed for release shop/storefront with chart storefront@{ver}: context deadline exceeded"
    out.append(zap(t, "error", "failed to run 'upgrade' action", "HelmRelease", "shop", "storefront", error=err))
    out.append(event(t, "HelmRelease", "shop", "storefront", "UpgradeFailed",
                     err + "\n\nLast Helm logs:\n\nwaiting for 1 resources with timeout of 5m0s", "Warning", "helm-controller", rev=ver))
    t += timedelta(seconds=30)
out.append(zap(t, "error", "Reconciler error", "HelmRelease", "shop", "storefront",
               error="exceeded maximum retries: cannot upgrade release"))
out.append(event(t, "HelmRelease", "shop", "storefront", "UpgradeFailed", "Failed to upgrade after 3 attempt(s)",
                 "Warning", "helm-controller"))

# A few lines in other envelopes, as users paste them.
out.append((T0 + timedelta(seconds=1), "[pod/source-controller-6d8f7b9c4-x2x7k/manager] " + json.dumps(
    {"level": "info", "ts": ts(T0 + timedelta(seconds=1)), "msg": "starting manager", "logger": "setup"}, separators=(",", ":"))))
t = T0 + timedelta(seconds=2)
out.append((t, f"{ts(t)[:-1]}123456Z stderr F " + json.dumps(
    {"level": "info", "ts": ts(t), "msg": "successfully acquired lease flux-system/source-controller-leader-election",
     "logger": "runtime"}, separators=(",", ":"))))

out.sort(key=lambda x: x[0])
print("\n".join(line for _, line in out))

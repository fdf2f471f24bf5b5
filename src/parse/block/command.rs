//! Command lines pasted above their output: `$ kubectl get hr -A`, `flux get all`,
//! `kubectl describe kustomization podinfo -n apps`, `kubectl get events`, `flux events`.
//!
//! Owns: recognising a `kubectl` / `flux` invocation behind an optional shell prompt and
//! reading its verb, resource kind, name and namespace flags; kubectl resource names
//! (plural, short, group-qualified) → kinds.
//! Invariant: only a line whose program token is `kubectl`, `k`, `oc` or `flux`, with at
//! most one prompt token before it, is a command; anything else is not.

use crate::parse::message::canonical_kind;

/// Which CLI printed the output below the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Kubectl,
    Flux,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub tool: Tool,
    /// `get`, `describe`, `events`, `reconcile`, `check`, `bootstrap`, `logs`, …
    pub verb: String,
    /// Canonical kind of the resource named (`hr` → `HelmRelease`); `None` for `all` or
    /// several kinds.
    pub kind: Option<String>,
    /// Object name when the command names one.
    pub name: Option<String>,
    /// `-n` / `--namespace`.
    pub namespace: Option<String>,
    /// `-A` / `--all-namespaces`.
    pub all_namespaces: bool,
}

/// Tokens a shell prompt may end with (`$`, `user@host:~$`, `PS C:\>`, `❯`).
const PROMPT_ENDS: [char; 6] = ['$', '#', '>', '%', '❯', '➜'];

/// Parses `line` as a command line; `None` when it is not one.
pub fn parse(line: &str) -> Option<Command> {
    // The program is the first or second token: look before collecting anything.
    if !line
        .split_whitespace()
        .take(3)
        .any(|t| matches!(t, "kubectl" | "k" | "oc" | "flux"))
    {
        return None;
    }
    let toks: Vec<&str> = line.split_whitespace().collect();
    let prog = toks
        .iter()
        .position(|t| matches!(*t, "kubectl" | "k" | "oc" | "flux"))?;
    // At most one prompt token before the program (`$`, `user@host:~$`, `PS C:\>` is
    // two tokens ending in `>`: allow a `PS` before it).
    let before = &toks[..prog];
    let prompt_ok = match before {
        [] => true,
        [p] => p.ends_with(PROMPT_ENDS),
        ["PS", p] => p.ends_with('>'),
        _ => false,
    };
    if !prompt_ok {
        return None;
    }
    let tool = if toks[prog] == "flux" {
        Tool::Flux
    } else {
        Tool::Kubectl
    };
    let mut args: Vec<&str> = Vec::new();
    let mut namespace = None;
    let mut all_namespaces = false;
    let mut it = toks[prog + 1..].iter();
    while let Some(&t) = it.next() {
        if t == "|" || t == ">" || t == "2>&1" {
            break;
        }
        match t {
            "-A" | "--all-namespaces" => all_namespaces = true,
            "-n" | "--namespace" => namespace = it.next().map(|s| s.to_string()),
            _ if t.starts_with("--namespace=") => namespace = Some(t[12..].to_string()),
            _ if t.starts_with("-n") && t.len() > 2 && !t.starts_with("--") => {
                namespace = Some(t[2..].to_string())
            }
            // Flags with a separate value that could be read as a resource name.
            "-o" | "--output" | "-l" | "--selector" | "--context" | "--kubeconfig"
            | "--field-selector" | "--for" | "--timeout" | "--since" => {
                it.next();
            }
            _ if t.starts_with('-') => {}
            _ => args.push(t),
        }
    }
    let (&verb, rest) = args.split_first()?;
    if !verb.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        return None;
    }
    let (kind, name) = match tool {
        Tool::Kubectl => kubectl_target(verb, rest),
        Tool::Flux => flux_target(verb, rest),
    };
    Some(Command {
        tool,
        verb: verb.to_string(),
        kind,
        name,
        namespace,
        all_namespaces,
    })
}

/// `get hr podinfo`, `get kustomization/podinfo`, `describe ks podinfo`, `get events`.
fn kubectl_target(verb: &str, rest: &[&str]) -> (Option<String>, Option<String>) {
    if !matches!(verb, "get" | "describe" | "edit" | "delete") {
        return (None, None);
    }
    let Some(first) = rest.first() else {
        return (None, None);
    };
    if let Some((res, name)) = first.split_once('/') {
        return (resource_kind(res), Some(name.to_string()));
    }
    if first.contains(',') {
        return (None, None);
    }
    (resource_kind(first), rest.get(1).map(|s| s.to_string()))
}

/// `flux get sources git`, `flux get ks`, `flux reconcile hr podinfo`, `flux get all`.
fn flux_target(verb: &str, rest: &[&str]) -> (Option<String>, Option<String>) {
    if verb == "events" {
        return (Some("Event".to_string()), None);
    }
    let mut rest = rest.iter().copied();
    let Some(first) = rest.next() else {
        return (None, None);
    };
    let kind = match first {
        "source" | "sources" => match rest.next() {
            Some("git") => Some("GitRepository"),
            Some("helm") => Some("HelmRepository"),
            Some("oci") => Some("OCIRepository"),
            Some("bucket") => Some("Bucket"),
            Some("chart") => Some("HelmChart"),
            _ => None,
        },
        "image" | "images" => match rest.next() {
            Some("repository") => Some("ImageRepository"),
            Some("policy") => Some("ImagePolicy"),
            Some("update") => Some("ImageUpdateAutomation"),
            _ => None,
        },
        "alert" | "alerts" => Some("Alert"),
        "alert-provider" | "alert-providers" => Some("Provider"),
        "receiver" | "receivers" => Some("Receiver"),
        "helmrelease" | "helmreleases" | "hr" => Some("HelmRelease"),
        "kustomization" | "kustomizations" | "ks" => Some("Kustomization"),
        _ => None,
    };
    (kind.map(str::to_string), rest.next().map(str::to_string))
}

/// Short names and kinds of core resources people `kubectl get`.
const CORE_RESOURCES: &[(&str, &str)] = &[
    ("po", "Pod"),
    ("pod", "Pod"),
    ("ev", "Event"),
    ("event", "Event"),
    ("deploy", "Deployment"),
    ("deployment", "Deployment"),
    ("sts", "StatefulSet"),
    ("statefulset", "StatefulSet"),
    ("ds", "DaemonSet"),
    ("daemonset", "DaemonSet"),
    ("rs", "ReplicaSet"),
    ("replicaset", "ReplicaSet"),
    ("job", "Job"),
    ("cronjob", "CronJob"),
    ("cj", "CronJob"),
    ("svc", "Service"),
    ("service", "Service"),
    ("ns", "Namespace"),
    ("namespace", "Namespace"),
    ("no", "Node"),
    ("node", "Node"),
    ("secret", "Secret"),
    ("cm", "ConfigMap"),
    ("configmap", "ConfigMap"),
    ("hpa", "HorizontalPodAutoscaler"),
    ("horizontalpodautoscaler", "HorizontalPodAutoscaler"),
    ("ing", "Ingress"),
    ("ingress", "Ingress"),
    ("pvc", "PersistentVolumeClaim"),
    ("persistentvolumeclaim", "PersistentVolumeClaim"),
];

/// Flux short names (the CRDs' `shortNames`).
const FLUX_SHORT: &[(&str, &str)] = &[
    ("ks", "Kustomization"),
    ("hr", "HelmRelease"),
    ("gitrepo", "GitRepository"),
    ("helmrepo", "HelmRepository"),
    ("ocirepo", "OCIRepository"),
    ("hc", "HelmChart"),
];

/// A kubectl resource name → its kind: `hr`, `helmreleases`,
/// `kustomizations.kustomize.toolkit.fluxcd.io`, `Kustomization`, `pods`.
pub fn resource_kind(res: &str) -> Option<String> {
    let base = res.split('.').next().unwrap_or(res).to_ascii_lowercase();
    let singular = |s: &str| -> Vec<String> {
        let mut v = vec![s.to_string()];
        if let Some(x) = s.strip_suffix("ies") {
            v.push(format!("{x}y"));
        }
        if let Some(x) = s.strip_suffix("es") {
            v.push(x.to_string());
        }
        if let Some(x) = s.strip_suffix('s') {
            v.push(x.to_string());
        }
        v
    };
    for cand in singular(&base) {
        if let Some(k) = canonical_kind(&cand) {
            return Some(k.to_string());
        }
        if let Some((_, k)) = FLUX_SHORT.iter().find(|(s, _)| *s == cand) {
            return Some(k.to_string());
        }
        if let Some((_, k)) = CORE_RESOURCES.iter().find(|(s, _)| *s == cand) {
            return Some(k.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_commands_behind_prompts() {
        let c = parse("$ kubectl get hr -A").unwrap();
        assert_eq!(c.tool, Tool::Kubectl);
        assert_eq!(c.verb, "get");
        assert_eq!(c.kind.as_deref(), Some("HelmRelease"));
        assert!(c.all_namespaces);
        let c = parse("user@box:~$ kubectl -n apps describe kustomization podinfo").unwrap();
        assert_eq!(c.verb, "describe");
        assert_eq!(c.kind.as_deref(), Some("Kustomization"));
        assert_eq!(c.name.as_deref(), Some("podinfo"));
        assert_eq!(c.namespace.as_deref(), Some("apps"));
        let c = parse("kubectl get kustomizations.kustomize.toolkit.fluxcd.io/apps --namespace=flux-system -o yaml").unwrap();
        assert_eq!(c.kind.as_deref(), Some("Kustomization"));
        assert_eq!(c.name.as_deref(), Some("apps"));
        assert_eq!(c.namespace.as_deref(), Some("flux-system"));
        assert_eq!(
            parse("PS C:\\> kubectl get gitrepositories")
                .unwrap()
                .kind
                .as_deref(),
            Some("GitRepository")
        );
        assert_eq!(
            parse("k get ev -n flux-system").unwrap().kind.as_deref(),
            Some("Event")
        );
    }

    #[test]
    fn flux_commands() {
        let c = parse("$ flux get sources git -A").unwrap();
        assert_eq!(c.tool, Tool::Flux);
        assert_eq!(c.kind.as_deref(), Some("GitRepository"));
        assert_eq!(parse("flux get all -A").unwrap().kind, None);
        let c = parse("flux reconcile ks podinfo --with-source").unwrap();
        assert_eq!(c.verb, "reconcile");
        assert_eq!(c.kind.as_deref(), Some("Kustomization"));
        assert_eq!(c.name.as_deref(), Some("podinfo"));
        assert_eq!(
            parse("flux events -n apps").unwrap().kind.as_deref(),
            Some("Event")
        );
    }

    #[test]
    fn prose_is_not_a_command() {
        assert!(parse("I ran flux get all and it hung").is_none());
        assert!(parse("the kubectl binary is old").is_none());
        assert!(parse("flux").is_none());
        assert!(parse("$ flux 'weird").is_none());
        assert!(parse("").is_none());
    }
}

//! What the workload asked for and what it was told: every answer counted by kind, the answers
//! no server may give (a 5xx other than a 503 with `Retry-After`), and, per object, the last
//! request the service accepted. The verdict holds the service to that last accepted request.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A bay as the accepted requests left it.
#[derive(Debug, Clone)]
pub(crate) struct BayIntent {
    pub name: String,
    pub kubernetes: bool,
    /// Workers asked for by the last accepted create, PATCH or resize.
    pub node_count: i64,
    /// Worker nodegroups added (and not deleted) besides the defaults: name → nodes.
    pub groups: BTreeMap<String, i64>,
    pub deleted: bool,
}

/// A container or a pod as the accepted requests left it.
#[derive(Debug, Clone)]
pub(crate) struct ObjectIntent {
    pub bay: String,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct TemplateIntent {
    pub name: String,
    pub deleted: bool,
}

#[derive(Default)]
struct Inner {
    requests: usize,
    answers: BTreeMap<&'static str, usize>,
    no_answer: usize,
    /// Answers that break the promise: "METHOD path → status: detail".
    server_errors: Vec<String>,
    /// 4xx answers by route, status and the start of their detail: what was refused, and why.
    refusals: BTreeMap<String, usize>,
    bays: BTreeMap<String, BayIntent>,
    containers: BTreeMap<String, ObjectIntent>,
    pods: BTreeMap<String, ObjectIntent>,
    templates: BTreeMap<String, TemplateIntent>,
    resizes: usize,
    /// Nodegroup creates and deletes accepted.
    group_changes: (usize, usize),
}

#[derive(Default)]
pub(crate) struct Ledger(Mutex<Inner>);

/// What one answer's status is, for the tally.
pub(crate) fn answer_kind(status: u16, retry_after: bool) -> &'static str {
    match status {
        200..=299 => "2xx",
        400..=499 => "4xx",
        503 if retry_after => "503 with Retry-After",
        _ => "other (a violation)",
    }
}

/// A path with its uuids as `{id}` and without its query: the route it took.
fn route(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    path.split('/').map(|seg| if uuid::Uuid::parse_str(seg).is_ok() { "{id}" } else { seg }).collect::<Vec<_>>().join("/")
}

/// `text` with each uuid in it as `{id}`, so refusals of one kind count together.
fn without_ids(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            let bare = w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
            if uuid::Uuid::parse_str(bare).is_ok() && bare.len() == 36 {
                w.replace(bare, "{id}")
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Ledger {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut inner)
    }

    pub fn requests(&self) -> usize {
        self.with(|i| i.requests)
    }

    pub fn answered(&self, method: &str, path: &str, status: u16, retry_after: bool, detail: &str) {
        let kind = answer_kind(status, retry_after);
        self.with(|i| {
            i.requests += 1;
            *i.answers.entry(kind).or_default() += 1;
            if kind.starts_with("other") {
                i.server_errors.push(format!("{method} {path} → {status}: {detail}"));
            }
            if kind == "4xx" {
                let why: String = without_ids(detail).chars().take(90).collect();
                *i.refusals.entry(format!("{method} {} → {status}: {why}", route(path))).or_default() += 1;
            }
        });
    }

    /// A request that got no answer: its API was down, paused past the timeout, or killed while
    /// answering. Whatever it asked may or may not have happened; the verdict checks every
    /// stored object either way.
    pub fn unanswered(&self) {
        self.with(|i| {
            i.requests += 1;
            i.no_answer += 1;
        });
    }

    /// The most frequent refusals, most frequent first.
    pub fn refusals(&self, n: usize) -> Vec<(String, usize)> {
        let mut all: Vec<(String, usize)> = self.with(|i| i.refusals.iter().map(|(k, v)| (k.clone(), *v)).collect());
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    pub fn tally(&self) -> (Vec<(&'static str, usize)>, usize, Vec<String>) {
        self.with(|i| (i.answers.iter().map(|(k, v)| (*k, *v)).collect(), i.no_answer, i.server_errors.clone()))
    }

    pub fn bay_accepted(&self, uuid: &str, intent: BayIntent) {
        self.with(|i| i.bays.insert(uuid.to_owned(), intent));
    }

    pub fn bay_resized(&self, uuid: &str, node_count: i64) {
        self.with(|i| {
            i.resizes += 1;
            i.bays.get_mut(uuid).map(|b| b.node_count = node_count)
        });
    }

    pub fn bay_deleted(&self, uuid: &str) {
        self.with(|i| i.bays.get_mut(uuid).map(|b| b.deleted = true));
    }

    pub fn resizes(&self) -> usize {
        self.with(|i| i.resizes)
    }

    /// Nodegroup (creates, deletes) accepted.
    pub fn group_changes(&self) -> (usize, usize) {
        self.with(|i| i.group_changes)
    }

    pub fn group_added(&self, bay: &str, group: &str, nodes: i64) {
        self.with(|i| {
            i.group_changes.0 += 1;
            i.bays.get_mut(bay).map(|b| b.groups.insert(group.to_owned(), nodes))
        });
    }

    pub fn group_deleted(&self, bay: &str, group: &str) {
        self.with(|i| {
            i.group_changes.1 += 1;
            i.bays.get_mut(bay).map(|b| b.groups.remove(group))
        });
    }

    pub fn bays(&self) -> BTreeMap<String, BayIntent> {
        self.with(|i| i.bays.clone())
    }

    pub fn container_accepted(&self, uuid: &str, bay: &str) {
        self.with(|i| i.containers.insert(uuid.to_owned(), ObjectIntent { bay: bay.to_owned(), deleted: false }));
    }

    pub fn pod_accepted(&self, uuid: &str, bay: &str) {
        self.with(|i| i.pods.insert(uuid.to_owned(), ObjectIntent { bay: bay.to_owned(), deleted: false }));
    }

    pub fn object_deleted(&self, uuid: &str) {
        self.with(|i| {
            for o in [i.containers.get_mut(uuid), i.pods.get_mut(uuid)].into_iter().flatten() {
                o.deleted = true;
            }
        });
    }

    pub fn containers(&self) -> BTreeMap<String, ObjectIntent> {
        self.with(|i| i.containers.clone())
    }

    pub fn pods(&self) -> BTreeMap<String, ObjectIntent> {
        self.with(|i| i.pods.clone())
    }

    pub fn template_accepted(&self, uuid: &str, name: &str) {
        self.with(|i| i.templates.insert(uuid.to_owned(), TemplateIntent { name: name.to_owned(), deleted: false }));
    }

    pub fn template_renamed(&self, uuid: &str, name: &str) {
        self.with(|i| i.templates.get_mut(uuid).map(|t| t.name = name.to_owned()));
    }

    pub fn template_deleted(&self, uuid: &str) {
        self.with(|i| i.templates.get_mut(uuid).map(|t| t.deleted = true));
    }

    pub fn templates(&self) -> BTreeMap<String, TemplateIntent> {
        self.with(|i| i.templates.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_503_with_retry_after_is_an_allowed_server_error() {
        let l = Ledger::default();
        l.answered("GET", "/v1/clusters", 200, false, "");
        l.answered("POST", "/v1/clusters", 503, true, "database away");
        l.answered("POST", "/v1/clusters", 503, false, "no retry-after");
        l.answered("GET", "/v1/clusters/x", 500, false, "boom");
        l.unanswered();
        let (answers, none, errors) = l.tally();
        assert_eq!(l.requests(), 5);
        assert_eq!(none, 1);
        assert_eq!(answers.iter().find(|(k, _)| *k == "other (a violation)").map(|(_, n)| *n), Some(2));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[1].contains("500: boom"), "{errors:?}");
        l.answered("PATCH", "/v1/clusters/0b7ef1ae-3d3c-4b4d-9a55-2f7c7a0e8f11", 400, false, "in progress");
        l.answered("PATCH", "/v1/clusters/5c2b1f0e-9d3c-4b4d-9a55-2f7c7a0e8f12", 400, false, "in progress");
        assert_eq!(l.refusals(5), vec![("PATCH /v1/clusters/{id} → 400: in progress".to_owned(), 2)]);
        assert_eq!(without_ids("Cluster 0b7ef1ae-3d3c-4b4d-9a55-2f7c7a0e8f11 could not be found."), "Cluster {id} could not be found.");
    }

    #[test]
    fn a_bay_delete_is_recorded_on_the_bay_alone() {
        let l = Ledger::default();
        l.bay_accepted("b", BayIntent { name: "b".into(), kubernetes: false, node_count: 1, groups: BTreeMap::new(), deleted: false });
        l.container_accepted("c", "b");
        l.pod_accepted("p", "other");
        l.bay_resized("b", 2);
        l.bay_deleted("b");
        assert!(l.bays()["b"].deleted && l.bays()["b"].node_count == 2);
        assert!(!l.containers()["c"].deleted, "its objects go when the bay is gone, which the verdict reads from the store");
        assert!(!l.pods()["p"].deleted);
    }
}

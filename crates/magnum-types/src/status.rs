//! Cluster (bay) statuses and the one state machine every component obeys.
//!
//! The API calls [`begin`] before it records a request; the conductor calls [`finish`] when a
//! driver returns. Nothing else changes a cluster's status, so the rules below are the rules.

use crate::error::{MagnumError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClusterStatus {
    CreateInProgress,
    CreateFailed,
    CreateComplete,
    UpdateInProgress,
    UpdateFailed,
    UpdateComplete,
    DeleteInProgress,
    DeleteFailed,
    DeleteComplete,
    ResumeComplete,
    ResumeFailed,
    RestoreComplete,
    RollbackInProgress,
    RollbackFailed,
    RollbackComplete,
    SnapshotComplete,
    CheckComplete,
    AdoptComplete,
}

use ClusterStatus::*;

impl ClusterStatus {
    pub const ALL: [ClusterStatus; 18] = [
        CreateInProgress,
        CreateFailed,
        CreateComplete,
        UpdateInProgress,
        UpdateFailed,
        UpdateComplete,
        DeleteInProgress,
        DeleteFailed,
        DeleteComplete,
        ResumeComplete,
        ResumeFailed,
        RestoreComplete,
        RollbackInProgress,
        RollbackFailed,
        RollbackComplete,
        SnapshotComplete,
        CheckComplete,
        AdoptComplete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CreateInProgress => "CREATE_IN_PROGRESS",
            CreateFailed => "CREATE_FAILED",
            CreateComplete => "CREATE_COMPLETE",
            UpdateInProgress => "UPDATE_IN_PROGRESS",
            UpdateFailed => "UPDATE_FAILED",
            UpdateComplete => "UPDATE_COMPLETE",
            DeleteInProgress => "DELETE_IN_PROGRESS",
            DeleteFailed => "DELETE_FAILED",
            DeleteComplete => "DELETE_COMPLETE",
            ResumeComplete => "RESUME_COMPLETE",
            ResumeFailed => "RESUME_FAILED",
            RestoreComplete => "RESTORE_COMPLETE",
            RollbackInProgress => "ROLLBACK_IN_PROGRESS",
            RollbackFailed => "ROLLBACK_FAILED",
            RollbackComplete => "ROLLBACK_COMPLETE",
            SnapshotComplete => "SNAPSHOT_COMPLETE",
            CheckComplete => "CHECK_COMPLETE",
            AdoptComplete => "ADOPT_COMPLETE",
        }
    }

    pub fn is_in_progress(self) -> bool {
        matches!(self, CreateInProgress | UpdateInProgress | DeleteInProgress | RollbackInProgress)
    }

    pub fn is_failed(self) -> bool {
        matches!(self, CreateFailed | UpdateFailed | DeleteFailed | RollbackFailed | ResumeFailed)
    }

    /// A create or update that failed: an update of the cluster (its node count set again, to
    /// the same or another value) is a retry, converging what exists to what is asked.
    pub fn accepts_retry(self) -> bool {
        matches!(self, CreateFailed | UpdateFailed)
    }

    /// The states in which a cluster works and can be changed (upstream's "*_COMPLETE" set).
    pub fn is_complete(self) -> bool {
        matches!(
            self,
            CreateComplete
                | UpdateComplete
                | ResumeComplete
                | RestoreComplete
                | RollbackComplete
                | SnapshotComplete
                | CheckComplete
                | AdoptComplete
        )
    }
}

impl fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClusterStatus {
    type Err = MagnumError;
    fn from_str(s: &str) -> Result<Self> {
        ClusterStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| MagnumError::invalid(format!("Unknown cluster status '{s}'.")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
    Unknown,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "HEALTHY",
            HealthStatus::Unhealthy => "UNHEALTHY",
            HealthStatus::Unknown => "UNKNOWN",
        }
    }
}

impl FromStr for HealthStatus {
    type Err = MagnumError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "HEALTHY" => Ok(HealthStatus::Healthy),
            "UNHEALTHY" => Ok(HealthStatus::Unhealthy),
            "UNKNOWN" => Ok(HealthStatus::Unknown),
            other => {
                Err(MagnumError::invalid(format!("Invalid health status '{other}'. Acceptable values are HEALTHY, UNHEALTHY, UNKNOWN.")))
            }
        }
    }
}

/// What a user asks of an existing cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Update,
    Delete,
}

/// The status a cluster enters when a user's request is accepted, or why it is refused.
///
/// A `*_FAILED` cluster never blocks the user: it can always be deleted, and an update of a
/// `CREATE_FAILED` or `UPDATE_FAILED` cluster is a retry (upstream allows only the latter, for
/// resize; a failed create is retried here rather than rebuilt). Deleting a cluster already
/// being deleted is harmless.
pub fn begin(current: ClusterStatus, op: Operation) -> Result<ClusterStatus> {
    match op {
        Operation::Delete => Ok(DeleteInProgress),
        Operation::Update if current.is_complete() || current.accepts_retry() => Ok(UpdateInProgress),
        Operation::Update => Err(MagnumError::invalid(format!(
            "Updating a cluster when status is \"{current}\" is not supported. \
             Wait until the cluster is in a *_COMPLETE state, or delete it."
        ))),
    }
}

/// What the driver reported for the operation in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed(String),
}

/// The status after a driver finished the in-progress operation. `None` when the cluster is
/// not in progress (a duplicate or stale report), which callers must ignore.
pub fn finish(current: ClusterStatus, outcome: &Outcome) -> Option<ClusterStatus> {
    let ok = matches!(outcome, Outcome::Succeeded);
    let next = match current {
        CreateInProgress if ok => CreateComplete,
        CreateInProgress => CreateFailed,
        UpdateInProgress if ok => UpdateComplete,
        UpdateInProgress => UpdateFailed,
        DeleteInProgress if ok => DeleteComplete,
        DeleteInProgress => DeleteFailed,
        RollbackInProgress if ok => RollbackComplete,
        RollbackInProgress => RollbackFailed,
        _ => return None,
    };
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for st in ClusterStatus::ALL {
            assert_eq!(st.as_str().parse::<ClusterStatus>().expect("known"), st);
        }
        assert!("CREATING".parse::<ClusterStatus>().is_err());
    }

    #[test]
    fn delete_is_always_accepted() {
        for st in ClusterStatus::ALL {
            assert_eq!(begin(st, Operation::Delete).expect("delete allowed"), DeleteInProgress);
        }
    }

    #[test]
    fn update_needs_complete_or_is_a_retry_of_a_failed_create_or_update() {
        assert_eq!(begin(CreateComplete, Operation::Update).expect("ok"), UpdateInProgress);
        assert_eq!(begin(UpdateComplete, Operation::Update).expect("ok"), UpdateInProgress);
        assert_eq!(begin(UpdateFailed, Operation::Update).expect("retry"), UpdateInProgress);
        assert_eq!(begin(CreateFailed, Operation::Update).expect("retry"), UpdateInProgress);
        for st in [CreateInProgress, UpdateInProgress, DeleteInProgress, DeleteFailed, RollbackFailed] {
            let err = begin(st, Operation::Update).expect_err("refused");
            assert_eq!(err.kind, crate::ErrorKind::Invalid);
            assert!(err.message.contains(st.as_str()), "{}", err.message);
        }
    }

    #[test]
    fn finish_maps_in_progress_to_terminal() {
        let failed = Outcome::Failed("boom".into());
        assert_eq!(finish(CreateInProgress, &Outcome::Succeeded), Some(CreateComplete));
        assert_eq!(finish(CreateInProgress, &failed), Some(CreateFailed));
        assert_eq!(finish(UpdateInProgress, &Outcome::Succeeded), Some(UpdateComplete));
        assert_eq!(finish(UpdateInProgress, &failed), Some(UpdateFailed));
        assert_eq!(finish(DeleteInProgress, &Outcome::Succeeded), Some(DeleteComplete));
        assert_eq!(finish(DeleteInProgress, &failed), Some(DeleteFailed));
        assert_eq!(finish(CreateComplete, &Outcome::Succeeded), None, "stale report ignored");
    }

    #[test]
    fn status_classes_are_disjoint() {
        for st in ClusterStatus::ALL {
            let n = [st.is_in_progress(), st.is_failed(), st.is_complete()].iter().filter(|b| **b).count();
            assert!(n <= 1, "{st} is in two classes");
        }
    }
}

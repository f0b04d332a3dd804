//! Container orchestration engines a template may name.

use crate::error::{MagnumError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Coe {
    #[serde(rename = "kubernetes")]
    Kubernetes,
    /// Docker swarm mode. Upstream's `swarm` and `swarm-mode` both name it.
    #[serde(rename = "swarm")]
    Swarm,
    #[serde(rename = "swarm-mode")]
    SwarmMode,
}

impl Coe {
    pub fn parse(s: &str) -> Result<Coe> {
        match s {
            "kubernetes" => Ok(Coe::Kubernetes),
            "swarm" => Ok(Coe::Swarm),
            "swarm-mode" => Ok(Coe::SwarmMode),
            other => Err(MagnumError::invalid(format!(
                "Requested COE type {other} is not supported. Supported COE types: kubernetes, swarm, swarm-mode."
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Coe::Kubernetes => "kubernetes",
            Coe::Swarm => "swarm",
            Coe::SwarmMode => "swarm-mode",
        }
    }

    pub fn is_swarm(self) -> bool {
        matches!(self, Coe::Swarm | Coe::SwarmMode)
    }

    /// Whether a driver of one of `names` builds this COE's bays (swarm and swarm-mode share one).
    pub fn among(self, names: &[String]) -> bool {
        names.iter().filter_map(|n| Coe::parse(n).ok()).any(|c| c == self || (c.is_swarm() && self.is_swarm()))
    }

    /// Network drivers a template of this COE may name; the first is the default.
    pub fn network_drivers(self) -> &'static [&'static str] {
        match self {
            Coe::Kubernetes => &["flannel", "calico"],
            Coe::Swarm | Coe::SwarmMode => &["docker", "flannel"],
        }
    }

    pub fn volume_drivers(self) -> &'static [&'static str] {
        match self {
            Coe::Kubernetes => &["cinder"],
            Coe::Swarm | Coe::SwarmMode => &["rexray"],
        }
    }
}

impl fmt::Display for Coe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

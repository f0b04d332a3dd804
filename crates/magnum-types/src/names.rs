//! Identifiers: UUIDs in canonical form, cluster names, and generated default names.

use crate::error::{MagnumError, Result};
use uuid::Uuid;

/// Canonical 36-character lowercase UUIDs only, like upstream's `str(uuid.UUID(v)) == v`.
pub fn parse_uuid(s: &str) -> Option<Uuid> {
    let u = Uuid::parse_str(s).ok()?;
    (u.hyphenated().to_string() == s).then_some(u)
}

/// Whether a path identifier should be looked up as a UUID (else as a name).
pub fn is_uuid_like(s: &str) -> bool {
    Uuid::parse_str(s).is_ok()
}

/// `^[a-zA-Z][a-zA-Z0-9_.-]*$`, at most 242 characters (room for a 13-char stack suffix).
pub fn check_cluster_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 242;
    if ok {
        Ok(())
    } else {
        Err(MagnumError::invalid(format!(
            "Cluster name {name} is invalid. Names must start with a letter, contain only letters, digits, \
             '_', '.' and '-', and be at most 242 characters."
        )))
    }
}

const GREEK: [&str; 24] = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi",
    "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
];

/// A name like upstream's `<greek>-<n>-cluster`, derived from the object's UUID.
pub fn generated_name(uuid: &Uuid, suffix: &str) -> String {
    let b = uuid.as_bytes();
    format!("{}-{}-{suffix}", GREEK[b[0] as usize % GREEK.len()], 1 + b[1] as usize % 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert!(parse_uuid("5d12f6fd-a196-4bf0-ae4c-1f639a523a52").is_some());
        assert!(parse_uuid("5D12F6FD-A196-4BF0-AE4C-1F639A523A52").is_none());
        assert!(parse_uuid("5d12f6fda1964bf0ae4c1f639a523a52").is_none());
        assert!(parse_uuid("fooo").is_none());
    }

    #[test]
    fn cluster_names() {
        for good in ["a", "k8s-cluster_1.prod", "Bay"] {
            check_cluster_name(good).expect(good);
        }
        for bad in ["", "1bay", "-x", "has space", "é", &"a".repeat(243)] {
            assert!(check_cluster_name(bad).is_err(), "{bad}");
        }
        check_cluster_name(&generated_name(&Uuid::new_v4(), "cluster")).expect("generated names are valid");
    }
}

//! The conductor's certificate, pinned on the node: the swarm is managed by the holder of the
//! certificate the conductor uses now, not by any certificate whose common name is the
//! conductor's. A credential rotation (`PATCH /v1/credentials/{bay}`) writes the new one here,
//! and from then on the old one is refused every request, reads included.

use base64::Engine as _;
use std::path::PathBuf;

/// The file the conductor keeps its current certificate in (PEM; every certificate in it is
/// taken).
pub const DEFAULT_PATH: &str = "/certs/conductor.pem";

pub struct Pin {
    path: PathBuf,
}

impl Pin {
    pub fn new(path: impl Into<PathBuf>) -> Pin {
        Pin { path: path.into() }
    }

    /// Ok when `presented` (the request's peer certificates, as the engine passes them: each
    /// a PEM, base64-encoded) leads with a pinned certificate, or when nothing is pinned (a node
    /// made before pinning, or a bay without TLS); else the reason it is refused.
    pub fn check(&self, presented: &[String]) -> Result<(), String> {
        // Read at every request: a rotation takes effect with no restart of the guard.
        let Ok(text) = std::fs::read_to_string(&self.path) else { return Ok(()) };
        let pinned = pem_bodies(&text);
        if pinned.is_empty() {
            return Ok(());
        }
        let leaf = presented
            .first()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|pem| pem_bodies(&String::from_utf8_lossy(&pem)).into_iter().next());
        match leaf {
            Some(leaf) if pinned.contains(&leaf) => Ok(()),
            _ => Err("this conductor certificate was retired by a credential rotation: the node accepts only the bay's current \
                      conductor certificate"
                .into()),
        }
    }
}

/// The base64 bodies of the PEM certificates in `text`, whitespace removed.
fn pem_bodies(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = vec![];
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let Some(stop) = after.find(END) else { break };
        out.push(after[..stop].chars().filter(|c| !c.is_whitespace()).collect());
        rest = &after[stop + END.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "-----BEGIN CERTIFICATE-----\nMIIBold1\nold2==\n-----END CERTIFICATE-----\n";
    const NEW: &str = "-----BEGIN CERTIFICATE-----\nMIIBnew1\nnew2==\n-----END CERTIFICATE-----\n";

    fn presented(pem: &str) -> Vec<String> {
        vec![base64::engine::general_purpose::STANDARD.encode(pem)]
    }

    fn pin_with(name: &str, content: Option<&str>) -> Pin {
        let path = std::env::temp_dir().join(format!("magnum-pin-{}-{name}", std::process::id()));
        match content {
            Some(c) => std::fs::write(&path, c).expect("write pin"),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
        Pin::new(path)
    }

    #[test]
    fn only_the_pinned_certificate_is_the_conductor() {
        let pin = pin_with("new", Some(NEW));
        assert!(pin.check(&presented(NEW)).is_ok());
        assert!(pin.check(&presented(OLD)).is_err_and(|e| e.contains("retired by a credential rotation")));
        assert!(pin.check(&[]).is_err(), "no certificate is not the conductor's");
        assert!(pin.check(&["not base64!".into()]).is_err());
        // Re-wrapped lines are the same certificate.
        assert!(pin.check(&presented("-----BEGIN CERTIFICATE-----\r\nMIIBnew1new2==\r\n-----END CERTIFICATE-----")).is_ok());
    }

    #[test]
    fn during_a_rotation_both_are_pinned_and_without_a_pin_the_name_suffices() {
        let both = format!("{OLD}{NEW}");
        let pin = pin_with("both", Some(&both));
        assert!(pin.check(&presented(OLD)).is_ok() && pin.check(&presented(NEW)).is_ok());
        let none = pin_with("none", None);
        assert!(none.check(&presented(OLD)).is_ok());
    }
}

//! Per-bay certificate authorities.
//!
//! Each bay has its own CA (ECDSA P-256). It signs the nodes' server certificates, the
//! conductor's client certificate, and users' CSRs (`ca-sign`) under upstream's `[x509]` rules:
//! only keyUsage, extendedKeyUsage, subjectAltName, basicConstraints and subjectKeyIdentifier
//! survive; key usages are limited to digitalSignature, keyEncipherment and nonRepudiation; a
//! disallowed *critical* extension or usage is refused (400), a non-critical one dropped; the CA
//! flag is never granted. Private keys are stored encrypted with AES-256-GCM ([`KeyCipher`]).

use base64::Engine as _;
use magnum_types::{MagnumError, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType, SerialNumber, SubjectPublicKeyInfo,
};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// A CA certificate and its private key, both PEM (the key decrypted: keep it in memory only).
#[derive(Clone)]
pub struct CaBundle {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate with its private key (PEM).
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// `[x509]` rules of upstream, as configuration.
#[derive(Debug, Clone)]
pub struct SigningRules {
    pub allow_ca: bool,
    pub validity_days: i64,
    /// Identities a user's certificate may not claim: common names (compared without case),
    /// and a prefix no common name or organization may start with.
    pub reserved_names: Vec<String>,
    pub reserved_prefix: Option<String>,
    /// Organizations (groups) replaced as signed: (asked for, signed as).
    pub renamed_groups: Vec<(String, String)>,
}

impl Default for SigningRules {
    fn default() -> Self {
        SigningRules { allow_ca: false, validity_days: 1825, reserved_names: vec![], reserved_prefix: None, renamed_groups: vec![] }
    }
}

impl SigningRules {
    /// The value a subject attribute is signed with, or why the identity is refused.
    fn subject_value(&self, kind: &DnType, value: &str) -> Result<String> {
        let claimed = |what: &str| {
            MagnumError::forbidden(format!(
                "The CSR's {what} '{value}' is an identity reserved to the bay's own components: choose another name."
            ))
        };
        match kind {
            DnType::CommonName if self.reserved_names.iter().any(|r| r.eq_ignore_ascii_case(value.trim())) => Err(claimed("common name")),
            DnType::OrganizationName => match self.renamed_groups.iter().find(|(from, _)| from == value.trim()) {
                Some((_, to)) => Ok(to.clone()),
                None if self.reserved_prefix.as_deref().is_some_and(|p| value.trim().starts_with(p)) => Err(claimed("organization")),
                None => Ok(value.to_owned()),
            },
            DnType::CommonName if self.reserved_prefix.as_deref().is_some_and(|p| value.trim().starts_with(p)) => {
                Err(claimed("common name"))
            }
            _ => Ok(value.to_owned()),
        }
    }
}

fn crypto(what: &str, e: impl std::fmt::Display) -> MagnumError {
    MagnumError::internal(format!("{what}: {e}"))
}

fn serial() -> Result<SerialNumber> {
    let mut b = [0u8; 16];
    SystemRandom::new().fill(&mut b).map_err(|_| MagnumError::internal("no randomness for a certificate serial"))?;
    b[0] &= 0x7f; // positive
    Ok(SerialNumber::from(b.to_vec()))
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(days);
}

/// A new CA named after the bay (upstream: the bay's name, or its uuid without one).
pub fn new_ca(name: &str) -> Result<CaBundle> {
    let key = KeyPair::generate().map_err(|e| crypto("generating a CA key", e))?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.serial_number = Some(serial()?);
    validity(&mut params, 3650);
    let cert = params.self_signed(&key).map_err(|e| crypto("self-signing the CA", e))?;
    Ok(CaBundle { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// What a leaf certificate is for.
pub enum Purpose {
    /// A node's Docker API: names and addresses it is reached by.
    Server { names: Vec<String> },
    /// A client (the conductor, or a user).
    Client,
}

fn issuer(ca: &CaBundle) -> Result<Issuer<'static, KeyPair>> {
    let key = KeyPair::from_pem(&ca.key_pem).map_err(|e| crypto("reading the CA key", e))?;
    Issuer::from_ca_cert_pem(&ca.cert_pem, key).map_err(|e| crypto("reading the CA certificate", e))
}

/// Issues a certificate with a fresh key, signed by `ca`.
pub fn issue(ca: &CaBundle, common_name: &str, purpose: Purpose) -> Result<Issued> {
    issue_in(ca, common_name, None, purpose)
}

/// As [`issue`], with an organization in the subject: Kubernetes reads it as the group of the
/// user the common name names (e.g. `system:nodes`, `system:masters`).
pub fn issue_in(ca: &CaBundle, common_name: &str, organization: Option<&str>, purpose: Purpose) -> Result<Issued> {
    let key = KeyPair::generate().map_err(|e| crypto("generating a key", e))?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, common_name);
    if let Some(o) = organization {
        params.distinguished_name.push(DnType::OrganizationName, o);
    }
    params.serial_number = Some(serial()?);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    match purpose {
        Purpose::Server { names } => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
            for n in names {
                let san = match n.parse::<std::net::IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(n.as_str().try_into().map_err(|e| crypto("a DNS name for a certificate", e))?),
                };
                params.subject_alt_names.push(san);
            }
        }
        Purpose::Client => params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth],
    }
    validity(&mut params, 1825);
    let cert = params.signed_by(&key, &issuer(ca)?).map_err(|e| crypto("signing a certificate", e))?;
    Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A fresh signing key pair that is no certificate (e.g. a Kubernetes service-account key):
/// (private key PEM, public key PEM).
pub fn key_pair() -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(|e| crypto("generating a key", e))?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

fn invalid_csr(why: impl std::fmt::Display) -> MagnumError {
    MagnumError::invalid(format!("Invalid CSR: {why}. Send a PEM 'CERTIFICATE REQUEST' signed with its own key."))
}

fn dn_type(oid: &str) -> DnType {
    match oid {
        "2.5.4.3" => DnType::CommonName,
        "2.5.4.6" => DnType::CountryName,
        "2.5.4.7" => DnType::LocalityName,
        "2.5.4.8" => DnType::StateOrProvinceName,
        "2.5.4.10" => DnType::OrganizationName,
        "2.5.4.11" => DnType::OrganizationalUnitName,
        other => DnType::CustomDnType(other.split('.').filter_map(|p| p.parse().ok()).collect()),
    }
}

/// Signs a user's CSR with the bay's CA under `rules`; returns the certificate PEM.
pub fn sign_csr(ca: &CaBundle, csr_pem: &str, rules: &SigningRules) -> Result<String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(csr_pem.as_bytes()).map_err(|e| invalid_csr(format!("not PEM ({e})")))?;
    if pem.label != "CERTIFICATE REQUEST" && pem.label != "NEW CERTIFICATE REQUEST" {
        return Err(invalid_csr(format!("PEM block is '{}'", pem.label)));
    }
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents).map_err(invalid_csr)?;
    csr.verify_signature().map_err(|_| invalid_csr("its signature does not match its public key"))?;
    let info = &csr.certification_request_info;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for attr in info.subject.iter_attributes() {
        let value = attr.as_str().map_err(|_| invalid_csr("a subject attribute is not text"))?;
        let kind = dn_type(&attr.attr_type().to_id_string());
        let value = rules.subject_value(&kind, value)?;
        dn.push(kind, value);
    }
    params.distinguished_name = dn;
    for attr in info.iter_attributes() {
        let x509_parser::cri_attributes::ParsedCriAttribute::ExtensionRequest(req) = attr.parsed_attribute() else { continue };
        for ext in &req.extensions {
            match ext.parsed_extension() {
                ParsedExtension::KeyUsage(ku) => {
                    let allowed = [
                        (ku.digital_signature(), KeyUsagePurpose::DigitalSignature),
                        (ku.key_encipherment(), KeyUsagePurpose::KeyEncipherment),
                        (ku.non_repudiation(), KeyUsagePurpose::ContentCommitment),
                    ];
                    // keyCertSign (bit 5) and cRLSign (bit 6) are stripped silently, as upstream
                    // does; any other usage beyond the allowed three is refused when critical.
                    let disallowed = ku.flags & !(0b111 | 1 << 5 | 1 << 6) != 0;
                    if disallowed && ext.critical {
                        return Err(MagnumError::invalid(format!(
                            "Key usage '{ku}' not allowed: only digitalSignature, keyEncipherment and nonRepudiation are."
                        )));
                    }
                    params.key_usages = allowed.into_iter().filter(|(on, _)| *on).map(|(_, u)| u).collect();
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    for (on, p) in [
                        (eku.server_auth, ExtendedKeyUsagePurpose::ServerAuth),
                        (eku.client_auth, ExtendedKeyUsagePurpose::ClientAuth),
                        (eku.code_signing, ExtendedKeyUsagePurpose::CodeSigning),
                        (eku.email_protection, ExtendedKeyUsagePurpose::EmailProtection),
                        (eku.time_stamping, ExtendedKeyUsagePurpose::TimeStamping),
                        (eku.ocsp_signing, ExtendedKeyUsagePurpose::OcspSigning),
                    ] {
                        if on {
                            params.extended_key_usages.push(p);
                        }
                    }
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        let entry = match name {
                            GeneralName::DNSName(d) => SanType::DnsName((*d).try_into().map_err(invalid_csr)?),
                            GeneralName::RFC822Name(m) => SanType::Rfc822Name((*m).try_into().map_err(invalid_csr)?),
                            GeneralName::URI(u) => SanType::URI((*u).try_into().map_err(invalid_csr)?),
                            GeneralName::IPAddress(b) => match b.len() {
                                4 => SanType::IpAddress(std::net::IpAddr::from(<[u8; 4]>::try_from(*b).map_err(invalid_csr)?)),
                                16 => SanType::IpAddress(std::net::IpAddr::from(<[u8; 16]>::try_from(*b).map_err(invalid_csr)?)),
                                _ => return Err(invalid_csr("an IP address SAN of odd length")),
                            },
                            _ => continue,
                        };
                        params.subject_alt_names.push(entry);
                    }
                }
                // Without allow_ca the CA flag is stripped, as upstream does.
                ParsedExtension::BasicConstraints(bc) if bc.ca && rules.allow_ca => {
                    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                }
                ParsedExtension::BasicConstraints(_) => {}
                ParsedExtension::SubjectKeyIdentifier(_) => {} // rcgen derives its own.
                _ if ext.critical => {
                    return Err(MagnumError::invalid(format!(
                        "Extension '{}' not allowed (it is marked critical).",
                        ext.oid.to_id_string()
                    )))
                }
                _ => {} // A non-critical extension outside the allowed set is dropped.
            }
        }
    }
    params.serial_number = Some(serial()?);
    validity(&mut params, rules.validity_days);
    let public = SubjectPublicKeyInfo::from_der(info.subject_pki.raw).map_err(invalid_csr)?;
    let cert = params.signed_by(&public, &issuer(ca)?).map_err(|e| invalid_csr(format!("cannot be signed ({e})")))?;
    Ok(cert.pem())
}

/// SHA-256 of a PEM certificate's DER, hex: tells whether a node holds the current CA's cert.
pub fn fingerprint(cert_pem: &str) -> String {
    let der = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).map(|(_, p)| p.contents).unwrap_or_default();
    ring::digest::digest(&ring::digest::SHA256, &der).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A PEM certificate's subject as (common name, organizations): Kubernetes' user and groups.
/// None when it is no certificate.
pub fn subject_of(cert_pem: &str) -> Option<(String, Vec<String>)> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&pem.contents).ok()?;
    let subject = cert.subject();
    let cn = subject.iter_common_name().next().and_then(|a| a.as_str().ok()).unwrap_or_default().to_owned();
    let orgs = subject.iter_organization().filter_map(|a| a.as_str().ok().map(str::to_owned)).collect();
    Some((cn, orgs))
}

/// Encrypts private keys at rest (AES-256-GCM, random nonce per value).
pub struct KeyCipher {
    key: LessSafeKey,
}

const CIPHER_PREFIX: &str = "aes256gcm:";

impl KeyCipher {
    pub fn from_bytes(key: &[u8; 32]) -> Result<KeyCipher> {
        let k = UnboundKey::new(&aead::AES_256_GCM, key).map_err(|_| MagnumError::internal("invalid certificate encryption key"))?;
        Ok(KeyCipher { key: LessSafeKey::new(k) })
    }

    /// 32 random bytes for a new key file.
    pub fn generate_key() -> Result<[u8; 32]> {
        let mut k = [0u8; 32];
        SystemRandom::new().fill(&mut k).map_err(|_| MagnumError::internal("no randomness for an encryption key"))?;
        Ok(k)
    }

    pub fn encrypt(&self, plaintext: &str) -> Result<String> {
        let mut nonce = [0u8; 12];
        SystemRandom::new().fill(&mut nonce).map_err(|_| MagnumError::internal("no randomness for a nonce"))?;
        let mut buf = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .map_err(|_| MagnumError::internal("encrypting a private key failed"))?;
        let mut out = nonce.to_vec();
        out.extend(buf);
        Ok(format!("{CIPHER_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(out)))
    }

    pub fn decrypt(&self, stored: &str) -> Result<String> {
        let wrong = || MagnumError::internal("a stored private key cannot be decrypted: is this the key file it was encrypted with?");
        let b64 = stored.strip_prefix(CIPHER_PREFIX).ok_or_else(wrong)?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| wrong())?;
        if raw.len() < 12 + 16 {
            return Err(wrong());
        }
        let (nonce, sealed) = raw.split_at(12);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut buf = sealed.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::empty(), &mut buf).map_err(|_| wrong())?;
        String::from_utf8(plain.to_vec()).map_err(|_| wrong())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(params: CertificateParams) -> String {
        let key = KeyPair::generate().expect("key");
        params.serialize_request(&key).expect("csr").pem().expect("pem")
    }

    #[test]
    fn ca_signs_servers_and_clients() {
        let ca = new_ca("bay-1").expect("ca");
        assert!(ca.cert_pem.contains("BEGIN CERTIFICATE"));
        let server = issue(&ca, "node-0", Purpose::Server { names: vec!["127.0.0.1".into(), "node-0".into()] }).expect("server");
        let (_, p) = x509_parser::pem::parse_x509_pem(server.cert_pem.as_bytes()).expect("pem");
        let cert = p.parse_x509().expect("x509");
        assert_eq!(cert.issuer().to_string(), "CN=bay-1");
        assert!(cert.subject_alternative_name().expect("ext").is_some());
        issue(&ca, "Magnum-Conductor", Purpose::Client).expect("client");
        let grouped = issue_in(&ca, "alice", Some("team-a"), Purpose::Client).expect("client");
        assert_eq!(subject_of(&grouped.cert_pem), Some(("alice".to_owned(), vec!["team-a".to_owned()])));
        assert_eq!(subject_of("not a certificate"), None);
    }

    #[test]
    fn csr_rules() {
        let ca = new_ca("bay").expect("ca");
        let mut p = CertificateParams::new(vec!["client.example".into()]).expect("params");
        p.distinguished_name.push(DnType::CommonName, "alice");
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign];
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let pem = sign_csr(&ca, &csr(p), &SigningRules::default()).expect("signed");
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("pem");
        let cert = block.parse_x509().expect("x509");
        assert_eq!(cert.subject().to_string(), "CN=alice");
        assert!(!cert.is_ca(), "the CA flag is stripped");
        let ku = cert.key_usage().expect("ext").expect("key usage").value;
        assert!(ku.digital_signature() && !ku.key_cert_sign(), "keyCertSign is dropped");
        let mut refused = CertificateParams::new(vec![]).expect("params");
        refused.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::DataEncipherment];
        let e = sign_csr(&ca, &csr(refused), &SigningRules::default()).expect_err("critical dataEncipherment");
        assert!(e.message.contains("not allowed"), "{}", e.message);
        assert!(sign_csr(&ca, "not a csr", &SigningRules::default()).expect_err("garbage").message.contains("Invalid CSR"));
        assert!(sign_csr(&ca, &ca.cert_pem, &SigningRules::default()).expect_err("a certificate").message.contains("Invalid CSR"));
    }

    #[test]
    fn reserved_identities_are_refused_and_groups_renamed() {
        let ca = new_ca("bay").expect("ca");
        let rules = SigningRules {
            reserved_names: vec!["Magnum-Conductor".into()],
            reserved_prefix: Some("system:".into()),
            renamed_groups: vec![("system:masters".into(), "magnum:tenant-admins".into())],
            ..SigningRules::default()
        };
        let ask = |cn: &str, o: Option<&str>| {
            let mut p = CertificateParams::new(vec![]).expect("params");
            p.distinguished_name.push(DnType::CommonName, cn);
            if let Some(o) = o {
                p.distinguished_name.push(DnType::OrganizationName, o);
            }
            sign_csr(&ca, &csr(p), &rules)
        };
        let subject = |pem: String| {
            let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("pem");
            block.parse_x509().expect("x509").subject().to_string()
        };
        assert_eq!(subject(ask("admin", Some("system:masters")).expect("signed")), "CN=admin, O=magnum:tenant-admins");
        assert_eq!(subject(ask("alice", Some("team-a")).expect("signed")), "CN=alice, O=team-a");
        for (cn, o) in [("magnum-conductor", None), ("system:kube-proxy", None), ("bob", Some("system:nodes"))] {
            let e = ask(cn, o).expect_err("reserved");
            assert_eq!(e.kind, magnum_types::ErrorKind::Forbidden, "{}", e.message);
            assert!(e.message.contains("reserved"), "{}", e.message);
        }
    }

    #[test]
    fn keys_round_trip_encrypted() {
        let c = KeyCipher::from_bytes(&KeyCipher::generate_key().expect("key")).expect("cipher");
        let sealed = c.encrypt("-----BEGIN PRIVATE KEY-----\nxyz").expect("enc");
        assert!(!sealed.contains("PRIVATE KEY"));
        assert_eq!(c.decrypt(&sealed).expect("dec"), "-----BEGIN PRIVATE KEY-----\nxyz");
        let other = KeyCipher::from_bytes(&KeyCipher::generate_key().expect("key")).expect("cipher");
        assert!(other.decrypt(&sealed).is_err(), "another key cannot open it");
    }
}

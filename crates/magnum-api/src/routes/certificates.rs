//! `/v1/certificates`: a bay's CA (ca-show), signing a user's CSR with it (ca-sign), and CA
//! rotation. Private keys never leave the store except, decrypted in memory, to sign.

use super::cluster_writes::{write_cluster_with, With};
use crate::caller::one_scope;
use crate::caller::Caller;
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::{input, links, policy, AppState};
use axum::extract::{Path, State};
use bytes::Bytes;
use http::StatusCode;
use magnum_certs::{CaBundle, Purpose, SigningRules};
use magnum_rpc::ConductorCommand;
use magnum_store::StoredCertificates;
use magnum_types::attrs::{opt, string, Schema};
use magnum_types::cluster::Cluster;
use magnum_types::coe::Coe;
use magnum_types::status::{begin, Operation};
use magnum_types::{ErrorKind, MagnumError};
use serde_json::{json, Value};

pub use magnum_types::identity::CONDUCTOR_CN;

/// A new CA for the bay and the conductor's client certificate, keys sealed for the store.
pub(crate) fn new_bay_certificates(s: &AppState, c: &Cluster, coe: Coe) -> Result<StoredCertificates, MagnumError> {
    let ca = magnum_certs::new_ca(&c.name)?;
    let client = conductor_certificate(&ca, coe)?;
    Ok(StoredCertificates {
        ca_cert: ca.cert_pem,
        ca_key: s.cipher.encrypt(&ca.key_pem)?,
        client_cert: client.cert_pem,
        client_key: s.cipher.encrypt(&client.key_pem)?,
    })
}

/// The conductor's client certificate for a bay of `coe`: on a swarm, the one name the nodes'
/// guards let manage the swarm (a rotation retires the old one by pinning); on Kubernetes a user
/// of its own, which the bay's binding makes cluster admin (a rotation rebinds to a new one).
pub(crate) fn conductor_certificate(ca: &CaBundle, coe: Coe) -> Result<magnum_certs::Issued, MagnumError> {
    match coe {
        Coe::Kubernetes => {
            let credential = uuid::Uuid::new_v4().simple().to_string();
            magnum_certs::issue(ca, &magnum_types::identity::kubernetes_conductor_user(&credential[..12]), Purpose::Client)
        }
        _ => magnum_certs::issue(ca, CONDUCTOR_CN, Purpose::Client),
    }
}

/// An external bay's TLS material, as given at registration: its CA (shown by ca-show; its key is
/// not ours, so nothing is signed with it) and the client certificate or token the conductor uses.
pub(crate) fn external_bay_certificates(
    s: &AppState,
    e: &magnum_types::external::ExternalEndpoint,
) -> Result<Option<StoredCertificates>, MagnumError> {
    let Some(tls) = &e.tls else { return Ok(None) };
    // A token is kept where a client key would be, sealed alike (its certificate is empty).
    let (cert, secret) = tls.client.stored_parts();
    Ok(Some(StoredCertificates {
        ca_cert: tls.ca_cert.clone(),
        ca_key: s.cipher.encrypt("")?,
        client_cert: cert.to_owned(),
        client_key: s.cipher.encrypt(secret)?,
    }))
}

fn not_our_ca(c: &Cluster, what: &str) -> MagnumError {
    MagnumError::invalid(format!(
        "Cluster {} is an external bay: its CA belongs to whoever runs it, so magnum-rs cannot {what}. \
         Get certificates from that CA's owner.",
        c.uuid
    ))
}

fn body(c: &Cluster, base: &str, extra: &[(&str, Value)]) -> Value {
    let mut v = json!({
        "cluster_uuid": c.uuid.to_string(),
        "bay_uuid": c.uuid.to_string(),
        "links": links::links(base, &format!("certificates/{}", c.uuid)),
    });
    for (k, val) in extra {
        v[*k] = val.clone();
    }
    v
}

pub(crate) async fn show(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>) -> ApiResult {
    let c = s.store.get_cluster(&one_scope(&caller), &ident).await?;
    policy::enforce_on("certificate:get", &caller, &c.project_id, &c.user_id)?;
    let certs = s.store.get_certificates(c.uuid).await?;
    Ok(json_response(StatusCode::OK, &body(&c, &caller.base, &[("pem", json!(certs.ca_cert))])))
}

static SIGN_ATTRS: [magnum_types::attrs::Attr; 4] = [
    opt("cluster_uuid", string(1, 255)),
    opt("bay_uuid", string(1, 255)),
    opt("csr", string(1, 65536)),
    opt("ca_cert_type", string(1, 32)),
];
static SIGN_SCHEMA: Schema = Schema { resource: "certificate", attrs: &SIGN_ATTRS };

pub(crate) async fn sign(State(s): State<AppState>, caller: Caller, raw: Bytes) -> ApiResult {
    let checked = SIGN_SCHEMA.check_create(&input::json_body(&raw)?)?;
    let ident = checked
        .get("cluster_uuid")
        .or_else(|| checked.get("bay_uuid"))
        .and_then(Value::as_str)
        .ok_or_else(|| MagnumError::invalid("Mandatory field missing: cluster_uuid (or bay_uuid)."))?;
    let csr = checked.get("csr").and_then(Value::as_str).ok_or_else(|| MagnumError::invalid("Mandatory field missing: csr."))?;
    if let Some(t) = checked.get("ca_cert_type").and_then(Value::as_str).filter(|t| *t != "kubernetes") {
        return Err(MagnumError::invalid(format!("ca_cert_type '{t}' is not supported: swarm bays have a single CA.")).into());
    }
    // A bay named in a body that does not exist is a 400, as upstream.
    let c = s.store.get_cluster(&one_scope(&caller), ident).await.map_err(|e| match e.kind {
        ErrorKind::NotFound => MagnumError::invalid(e.message),
        _ => e,
    })?;
    policy::enforce_on("certificate:create", &caller, &c.project_id, &c.user_id)?;
    if c.external {
        return Err(not_our_ca(&c, "sign a CSR with it").into());
    }
    let stored = s.store.get_certificates(c.uuid).await?;
    let ca = CaBundle { cert_pem: stored.ca_cert, key_pem: s.cipher.decrypt(&stored.ca_key)? };
    // The bay's own identities are never signed for a user (docs/SECURITY.md).
    let template = s.store.get_template_by_uuid(c.cluster_template_id).await?;
    let (reserved_names, reserved_prefix, renamed_groups) = magnum_types::identity::signing_limits(Coe::parse(&template.coe)?);
    let rules = SigningRules { reserved_names, reserved_prefix, renamed_groups, ..SigningRules::default() };
    let pem = magnum_certs::sign_csr(&ca, csr, &rules)?;
    tracing::info!(cluster = %c.uuid, "CSR signed");
    Ok(json_response(StatusCode::CREATED, &body(&c, &caller.base, &[("csr", json!(csr)), ("pem", json!(pem))])))
}

pub(crate) async fn rotate(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>) -> ApiResult {
    let c = s.store.get_cluster(&one_scope(&caller), &ident).await?;
    policy::enforce("certificate:rotate_ca", &caller, &c.project_id)?;
    if c.external {
        return Err(not_our_ca(&c, "rotate it").into());
    }
    let template = s.store.get_template_by_uuid(c.cluster_template_id).await?;
    let coe = Coe::parse(&template.coe)?;
    if coe == Coe::Kubernetes {
        // Every component of a Kubernetes bay holds a certificate from this CA and trusts only
        // it: a new CA would cut the nodes off from their API server until each is re-issued.
        return Err(MagnumError::invalid(format!(
            "Rotating the CA of Kubernetes cluster {} is not supported: its nodes' certificates are not re-issued in \
             place. Create a new cluster to get a new CA.",
            c.uuid
        ))
        .into());
    }
    if template.tls_disabled {
        return Err(
            MagnumError::invalid(format!("Rotating the CA of cluster {} is not supported: its template disables TLS.", c.uuid)).into()
        );
    }
    let certs = new_bay_certificates(&s, &c, coe)?;
    let start = |c: &mut Cluster| {
        c.status = begin(c.status, Operation::Update)?;
        c.status_reason = None;
        Ok(())
    };
    let c = write_cluster_with(&s, c, start, With::Certificates(&certs)).await?;
    tracing::info!(cluster = %c.uuid, "CA rotated; nodes get new certificates");
    if let Err(e) = s.rpc.cast(ConductorCommand::ClusterUpdate { uuid: c.uuid }).await {
        tracing::warn!(error = %e, "cast failed; the conductors' sweep will pick the rotation up");
    }
    Ok(json_response(StatusCode::ACCEPTED, &json!({"uuid": c.uuid.to_string()})))
}

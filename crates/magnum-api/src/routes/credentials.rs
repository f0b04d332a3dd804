//! `PATCH /v1/credentials/{cluster}` (1.12): a new client certificate for the conductor of one
//! bay, from the bay's CA, and the old one retired. The conductor pins the new certificate on
//! every node before it calls any (`/certs/conductor.pem`, read by each node's guard at every
//! request), so from the end of the update the old certificate is refused everything.

use super::cluster_writes::{write_cluster_with, With};
use super::require;
use crate::caller::{one_scope, Caller};
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::{policy, AppState};
use axum::extract::{Path, State};
use http::StatusCode;
use magnum_certs::{CaBundle, Purpose};
use magnum_rpc::ConductorCommand;
use magnum_store::StoredCertificates;
use magnum_types::cluster::Cluster;
use magnum_types::coe::Coe;
use magnum_types::status::{begin, Operation};
use magnum_types::MagnumError;
use serde_json::json;

fn not_rotatable(c: &Cluster, why: &str) -> MagnumError {
    MagnumError::invalid(format!("Rotating the credentials of cluster {} is not supported: {why}", c.uuid))
}

pub(crate) async fn rotate(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>) -> ApiResult {
    require(caller.version, 12, "credentials")?;
    let c = s.store.get_cluster(&one_scope(&caller), &ident).await?;
    policy::enforce("credential:rotate", &caller, &c.project_id)?;
    if c.external {
        return Err(not_rotatable(&c, "it is an external bay, whose credentials are its owner's to rotate.").into());
    }
    let template = s.store.get_template_by_uuid(c.cluster_template_id).await?;
    if Coe::parse(&template.coe)? == Coe::Kubernetes {
        // Kubernetes cannot take back a client certificate its CA signed: only a new CA would.
        return Err(not_rotatable(
            &c,
            "a Kubernetes API server keeps accepting every certificate its CA signed, so the old credentials could not \
             be made to stop working. Rotating them is built for swarm bays.",
        )
        .into());
    }
    if template.tls_disabled {
        return Err(not_rotatable(&c, "its template disables TLS, so the conductor holds no credentials for it.").into());
    }
    let stored = s.store.get_certificates(c.uuid).await?;
    let ca = CaBundle { cert_pem: stored.ca_cert.clone(), key_pem: s.cipher.decrypt(&stored.ca_key)? };
    let client = magnum_certs::issue(&ca, super::certificates::CONDUCTOR_CN, Purpose::Client)?;
    let certs = StoredCertificates { client_cert: client.cert_pem, client_key: s.cipher.encrypt(&client.key_pem)?, ..stored };
    let start = |c: &mut Cluster| {
        c.status = begin(c.status, Operation::Update)?;
        c.status_reason = None;
        c.nodes_to_remove.clear();
        Ok(())
    };
    let c = write_cluster_with(&s, c, start, With::Certificates(&certs)).await?;
    tracing::info!(cluster = %c.uuid, "conductor credentials rotated; nodes pin the new certificate");
    super::clusters::cast(&s, ConductorCommand::ClusterUpdate { uuid: c.uuid }).await;
    Ok(json_response(StatusCode::ACCEPTED, &json!({"uuid": c.uuid.to_string()})))
}

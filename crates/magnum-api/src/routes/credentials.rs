//! `PATCH /v1/credentials/{cluster}` (1.12): a new client certificate for the conductor of one
//! bay, from the bay's CA, and the old one retired. On a swarm the conductor pins the new
//! certificate on every node before it calls any (`/certs/conductor.pem`, read by each node's
//! guard at every request); on Kubernetes the new certificate is a new user, and the update binds
//! cluster admin to it alone. From the end of the update the old certificate is refused
//! everything.

use super::cluster_writes::{write_cluster_with, With};
use super::require;
use crate::caller::{one_scope, Caller};
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::{policy, AppState};
use axum::extract::{Path, State};
use http::StatusCode;
use magnum_certs::CaBundle;
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
    if template.tls_disabled {
        return Err(not_rotatable(&c, "its template disables TLS, so the conductor holds no credentials for it.").into());
    }
    let stored = s.store.get_certificates(c.uuid).await?;
    let coe = Coe::parse(&template.coe)?;
    let in_masters = magnum_certs::subject_of(&stored.client_cert)
        .is_some_and(|(_, groups)| groups.iter().any(|g| g == magnum_types::identity::KUBERNETES_MASTERS));
    if coe == Coe::Kubernetes && in_masters {
        // Made before the conductor had a user of its own: its certificate is in system:masters,
        // which no binding can take back.
        return Err(not_rotatable(
            &c,
            "the bay was made before Kubernetes bays' conductor credentials could be retired (its certificate is in \
             system:masters, which Kubernetes cannot take back). Make a new bay to get rotatable credentials.",
        )
        .into());
    }
    let ca = CaBundle { cert_pem: stored.ca_cert.clone(), key_pem: s.cipher.decrypt(&stored.ca_key)? };
    let client = super::certificates::conductor_certificate(&ca, coe)?;
    let certs = StoredCertificates { client_cert: client.cert_pem, client_key: s.cipher.encrypt(&client.key_pem)?, ..stored };
    let start = |c: &mut Cluster| {
        c.status = begin(c.status, Operation::Update)?;
        c.status_reason = None;
        c.nodes_to_remove.clear();
        Ok(())
    };
    let c = write_cluster_with(&s, c, start, With::Certificates(&certs)).await?;
    tracing::info!(cluster = %c.uuid, coe = %template.coe, "conductor credentials rotated; the update retires the old ones");
    super::clusters::cast(&s, ConductorCommand::ClusterUpdate { uuid: c.uuid }).await;
    Ok(json_response(StatusCode::ACCEPTED, &json!({"uuid": c.uuid.to_string()})))
}

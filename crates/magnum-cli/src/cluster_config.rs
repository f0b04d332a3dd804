//! `cluster-config` / `bay-config`: what a user needs to talk to a cluster's own API.
//!
//! Swarm: a fresh key, its CSR signed by the cluster's CA (ca-sign) and the CA (ca-show),
//! written for the docker CLI, and the variables that point it at the cluster. Kubernetes: a
//! kubeconfig with the API server, its CA and a certificate signed the same way, or, for an
//! external bay (whose CA is not magnum's to sign with), without credentials and a note saying
//! how to add the user's own.

use crate::output::expect;
use anyhow::Context;
use base64::Engine;
use magnum_client::Client;
use serde_json::{json, Value};
use std::path::Path;

/// A fresh key and a client certificate for it from the cluster's CA: (cert PEM, key PEM).
async fn signed_client(c: &Client, uuid: &str, common_name: &str, org: Option<&str>) -> anyhow::Result<(String, String)> {
    let key = rcgen::KeyPair::generate().context("generating a key")?;
    let mut params = rcgen::CertificateParams::new(vec![]).context("certificate parameters")?;
    params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    if let Some(o) = org {
        params.distinguished_name.push(rcgen::DnType::OrganizationName, o);
    }
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let csr = params.serialize_request(&key).context("building the CSR")?.pem().context("encoding the CSR")?;
    let signed = expect(c.post("/v1/certificates", &json!({"cluster_uuid": uuid, "csr": csr})).await?, &[201], "ca-sign")?.body;
    Ok((signed["pem"].as_str().unwrap_or_default().to_owned(), key.serialize_pem()))
}

fn write(dir: &Path, name: &str, content: &str, private: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut f, content.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

pub async fn run(c: &Client, cluster: &str, dir: &Path) -> anyhow::Result<()> {
    let shown = expect(c.get(&format!("/v1/clusters/{cluster}")).await?, &[200], "cluster-config")?.body;
    let api = shown["api_address"].as_str().context("the cluster has no api_address yet: wait for CREATE_COMPLETE")?.to_owned();
    let uuid = shown["uuid"].as_str().unwrap_or(cluster).to_owned();
    let template = shown["cluster_template_id"].as_str().unwrap_or_default();
    let coe = expect(c.get(&format!("/v1/clustertemplates/{template}")).await?, &[200], "cluster-config")?.body["coe"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ca =
        expect(c.get(&format!("/v1/certificates/{uuid}")).await?, &[200], "ca-show")?.body["pem"].as_str().unwrap_or_default().to_owned();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    if coe == "kubernetes" {
        let name = shown["name"].as_str().unwrap_or(&uuid).to_owned();
        let credentials =
            if shown["external"] == true { None } else { Some(signed_client(c, &uuid, "admin", Some("system:masters")).await?) };
        write(dir, "config", &kubeconfig(&name, &api, &ca, credentials.as_ref()), true)?;
        if credentials.is_none() {
            eprintln!(
                "Cluster {name} is an external bay: its CA is not magnum's, so the kubeconfig has no credentials. \
                 Add yours: kubectl --kubeconfig {}/config config set-credentials {name} --token=<token> \
                 (or --client-certificate/--client-key)",
                abs.display()
            );
        }
        println!("export KUBECONFIG={}/config", abs.display());
        return Ok(());
    }
    let (cert, key) = signed_client(c, &uuid, "magnum-cli", None).await?;
    write(dir, "ca.pem", &ca, false)?;
    write(dir, "cert.pem", &cert, false)?;
    write(dir, "key.pem", &key, true)?;
    println!("export DOCKER_HOST={api}");
    println!("export DOCKER_CERT_PATH={}", abs.display());
    println!("export DOCKER_TLS_VERIFY=1");
    Ok(())
}

/// A kubeconfig for one cluster (JSON is YAML, so kubectl reads it as is).
fn kubeconfig(name: &str, server: &str, ca: &str, credentials: Option<&(String, String)>) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let user: Value = match credentials {
        Some((cert, key)) => json!({"client-certificate-data": b64(cert), "client-key-data": b64(key)}),
        None => json!({}),
    };
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

//! How the conductor reaches a bay's nodes during one operation: in the clear for a
//! `tls_disabled` bay, else with its client certificate from the bay's CA.

use crate::docker::{self, err, EngineError};
use crate::Credentials;
use bollard::Docker;

/// The conductor's client certificate on disk for the length of one operation (bollard's TLS
/// connector reads files); removed when dropped.
pub(super) struct ClientFiles {
    dir: std::path::PathBuf,
}

impl ClientFiles {
    fn write(creds: &Credentials) -> Result<ClientFiles, EngineError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let dir = std::env::temp_dir().join(format!("magnum-client-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|e| err("creating a directory for client credentials", e))?;
        for (name, content) in [("ca.pem", &creds.ca.cert_pem), ("cert.pem", &creds.client.cert_pem), ("key.pem", &creds.client.key_pem)] {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dir.join(name))
                .map_err(|e| err("writing client credentials", e))?;
            std::io::Write::write_all(&mut f, content.as_bytes()).map_err(|e| err("writing client credentials", e))?;
        }
        Ok(ClientFiles { dir })
    }

    pub(super) fn connect(&self, api: &str) -> Result<Docker, EngineError> {
        Docker::connect_with_ssl(
            api,
            &self.dir.join("key.pem"),
            &self.dir.join("cert.pem"),
            &self.dir.join("ca.pem"),
            30,
            &docker::API_VERSION,
        )
        .map_err(|e| err(&format!("TLS connection to {api}"), e))
    }
}

impl Drop for ClientFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How the conductor reaches the nodes of one bay during one operation.
pub(super) struct Access<'a> {
    pub(super) tls: Option<(&'a Credentials, ClientFiles)>,
}

impl<'a> Access<'a> {
    /// TLS bays are reached with the conductor's client certificate; others in the clear.
    pub(super) fn for_bay(
        template: &magnum_types::template::ClusterTemplate,
        credentials: Option<&'a Credentials>,
    ) -> Result<Access<'a>, EngineError> {
        match (template.tls_disabled, credentials) {
            (true, _) => Ok(Access { tls: None }),
            (false, Some(creds)) => Ok(Access { tls: Some((creds, ClientFiles::write(creds)?)) }),
            (false, None) => Err(EngineError("this bay has no certificates, so its TLS-protected nodes cannot be reached".into())),
        }
    }

    /// An external endpoint: TLS with the credentials it was registered with, if any.
    pub(super) fn for_endpoint(credentials: Option<&'a Credentials>) -> Result<Access<'a>, EngineError> {
        Ok(Access { tls: credentials.map(|c| ClientFiles::write(c).map(|f| (c, f))).transpose()? })
    }

    pub(super) fn connect(&self, api: &str) -> Result<Docker, EngineError> {
        match &self.tls {
            Some((_, files)) => files.connect(api),
            None => docker::connect(api, 30),
        }
    }
}

-- Each bay's CA and the conductor's client certificate for its nodes. Private keys are
-- stored encrypted (AES-256-GCM, key from the deployment's key file), never in the clear.
CREATE TABLE certificates (
    cluster_uuid TEXT NOT NULL PRIMARY KEY REFERENCES clusters (uuid) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    ca_cert TEXT NOT NULL,
    ca_key TEXT NOT NULL,
    client_cert TEXT NOT NULL,
    client_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT
);

-- Templates, clusters and their nodegroups, conductor heartbeats, quotas.
-- Each object row has the columns we filter and sort by, a `version` for optimistic
-- concurrency, and `body`: the object's full JSON (the attributes nobody queries by).
-- {serial} and {bigint} are replaced per backend.

CREATE TABLE cluster_templates (
    id {serial},
    uuid TEXT NOT NULL UNIQUE,
    version BIGINT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT,
    coe TEXT NOT NULL,
    image_id TEXT NOT NULL,
    flavor_id TEXT,
    apiserver_port BIGINT,
    public BIGINT NOT NULL,
    hidden BIGINT NOT NULL,
    server_type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    body TEXT NOT NULL
);
CREATE INDEX cluster_templates_project ON cluster_templates (project_id);
CREATE INDEX cluster_templates_name ON cluster_templates (name);

CREATE TABLE clusters (
    id {serial},
    uuid TEXT NOT NULL UNIQUE,
    version BIGINT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    cluster_template_id TEXT NOT NULL REFERENCES cluster_templates (uuid),
    status TEXT NOT NULL,
    node_count BIGINT NOT NULL,
    master_count BIGINT NOT NULL,
    create_timeout BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    body TEXT NOT NULL
);
CREATE INDEX clusters_project ON clusters (project_id, id);
CREATE INDEX clusters_name ON clusters (name);
CREATE INDEX clusters_template ON clusters (cluster_template_id);
CREATE INDEX clusters_status ON clusters (status);

CREATE TABLE nodegroups (
    id {serial},
    uuid TEXT NOT NULL UNIQUE,
    version BIGINT NOT NULL,
    cluster_id TEXT NOT NULL REFERENCES clusters (uuid) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    is_default BIGINT NOT NULL,
    node_count BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    body TEXT NOT NULL,
    UNIQUE (cluster_id, name)
);

CREATE TABLE magnum_services (
    id {serial},
    host TEXT NOT NULL,
    binary_name TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    forced_down BIGINT NOT NULL DEFAULT 0,
    report_count BIGINT NOT NULL DEFAULT 0,
    last_seen_up TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    UNIQUE (host, binary_name)
);

CREATE TABLE quotas (
    id {serial},
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    UNIQUE (project_id, resource)
);

-- The nodes of each bay as the conductor last observed them (the API never asks an engine).
CREATE TABLE nodes (
    id {serial},
    uuid TEXT NOT NULL UNIQUE,
    cluster_uuid TEXT NOT NULL REFERENCES clusters (uuid) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    nodegroup TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT,
    status TEXT NOT NULL,
    status_reason TEXT,
    image_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE INDEX nodes_cluster ON nodes (cluster_uuid);
CREATE INDEX nodes_project ON nodes (project_id, id);

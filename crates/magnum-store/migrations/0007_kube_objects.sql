-- Pods, replication controllers and services of Kubernetes bays. The row says who made which
-- object on which bay; the state column is what the Kubernetes API of the bay last said of it (JSON: phase,
-- node, replicas, cluster IP, ...), written by the conductor. One name per kind and bay, as in
-- a Kubernetes namespace. Rows go with their bay.
CREATE TABLE kube_objects (
    id {serial},
    uuid TEXT NOT NULL UNIQUE,
    version {bigint} NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    bay_uuid TEXT NOT NULL REFERENCES clusters (uuid) ON DELETE CASCADE,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    UNIQUE (bay_uuid, kind, name)
);
CREATE INDEX kube_objects_project ON kube_objects (project_id, kind, id);

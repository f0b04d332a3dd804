-- Containers of the container API. The API writes what was asked, the conductor writes where
-- it runs (host) and what the engine last said of it (status). Rows go with their bay.
CREATE TABLE containers (
    id {serial},
    uuid TEXT NOT NULL UNIQUE,
    version {bigint} NOT NULL,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    bay_uuid TEXT NOT NULL REFERENCES clusters (uuid) ON DELETE CASCADE,
    image TEXT NOT NULL,
    command TEXT,
    memory TEXT,
    environment TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    host TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE INDEX containers_bay ON containers (bay_uuid, host);
CREATE INDEX containers_project ON containers (project_id, id);

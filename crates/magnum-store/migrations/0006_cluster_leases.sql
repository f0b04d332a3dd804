-- Which conductor drives a bay right now, until when. A conductor renews its leases while it
-- works, and an expired lease may be taken over by any conductor.
CREATE TABLE cluster_leases (
    cluster_uuid TEXT PRIMARY KEY REFERENCES clusters (uuid) ON DELETE CASCADE,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

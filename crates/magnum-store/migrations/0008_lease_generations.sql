-- Each taking of a lease counts up its generation. A conductor's writes and engine actions
-- carry the generation it took, and are refused once another conductor has taken the lease:
-- a conductor that stalled past its lease cannot undo what its successor did.
ALTER TABLE cluster_leases ADD COLUMN generation {bigint} NOT NULL DEFAULT 0

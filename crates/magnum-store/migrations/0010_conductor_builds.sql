-- The COEs a conductor builds bays of (its drivers), comma-separated, refreshed with every
-- heartbeat; '' for a conductor that builds none, NULL for one that never said (older ones). The
-- API refuses at once a bay no conductor of the deployment can build.
ALTER TABLE magnum_services ADD COLUMN builds TEXT

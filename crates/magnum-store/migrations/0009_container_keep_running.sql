-- Whether a container's owner left it running: set by a start, reboot or unpause that made it
-- run, cleared by a stop or pause, and by the conductor when it finds the container ended by
-- itself. A container still marked when its node comes back from a restart (a reboot of the
-- machine, the engine restarted) was running when the node went down, and is started again.
ALTER TABLE containers ADD COLUMN keep_running {bigint} NOT NULL DEFAULT 0

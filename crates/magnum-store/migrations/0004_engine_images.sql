-- The images each conductor's engine holds, so the API can refuse a template whose image
-- is nowhere (400) without asking an engine itself.
CREATE TABLE engine_images (
    reporter TEXT NOT NULL,
    name TEXT NOT NULL,
    reported_at TEXT NOT NULL,
    PRIMARY KEY (reporter, name)
);

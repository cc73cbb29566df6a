CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    repository_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    method TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    counts TEXT NOT NULL,
    progress_done INTEGER NOT NULL DEFAULT 0,
    progress_total INTEGER,
    message TEXT,
    errors TEXT NOT NULL DEFAULT '[]',
    changes TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX sync_runs_by_repository ON sync_runs (tenant, repository_id, id DESC);
CREATE INDEX users_by_repository_username ON users (tenant, repository_id, username);

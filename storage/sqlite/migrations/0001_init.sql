-- authkit schema, version 1. Times are Unix microseconds in UTC; 0 means unset.
CREATE TABLE keys (
	id           TEXT PRIMARY KEY,
	owner        TEXT NOT NULL,
	handle       TEXT NOT NULL,
	alias        TEXT NOT NULL DEFAULT '',
	env          TEXT NOT NULL,
	scopes       TEXT NOT NULL DEFAULT '',
	hint         TEXT NOT NULL DEFAULT '',
	recoverable  INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL DEFAULT 0,
	last_used_at INTEGER NOT NULL DEFAULT 0,
	revoked_at   INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX keys_owner_handle_live ON keys (owner, handle) WHERE revoked_at = 0;
CREATE INDEX keys_owner_id ON keys (owner, id);

CREATE TABLE key_secrets (
	hash       BLOB PRIMARY KEY,
	key_id     TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
	sealed     BLOB,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX key_secrets_key ON key_secrets (key_id);

CREATE TABLE sessions (
	id               TEXT PRIMARY KEY,
	kind             TEXT NOT NULL,
	key_id           TEXT NOT NULL,
	owner            TEXT NOT NULL,
	name             TEXT NOT NULL DEFAULT '',
	scopes           TEXT NOT NULL DEFAULT '',
	created_at       INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL,
	revoked_at       INTEGER NOT NULL DEFAULT 0,
	token_sealed     BLOB,
	token_id         TEXT NOT NULL DEFAULT '',
	token_expires_at INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX sessions_login_live ON sessions (key_id, name) WHERE kind = 'login' AND revoked_at = 0;
CREATE INDEX sessions_owner_id ON sessions (owner, id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE refresh_tokens (
	hash         BLOB PRIMARY KEY,
	session_id   TEXT NOT NULL,
	key_id       TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	spent_at     INTEGER NOT NULL DEFAULT 0,
	child_sealed BLOB
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE signing_keys (
	id         TEXT PRIMARY KEY,
	algorithm  TEXT NOT NULL,
	sealed     BLOB NOT NULL,
	public     BLOB,
	created_at INTEGER NOT NULL,
	retired_at INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL DEFAULT 0
);

-- authkit schema, version 1 (PostgreSQL). Times are timestamptz in UTC; NULL means unset.
CREATE TABLE keys (
	id           TEXT PRIMARY KEY,
	owner        TEXT NOT NULL,
	handle       TEXT NOT NULL,
	alias        TEXT NOT NULL DEFAULT '',
	env          TEXT NOT NULL,
	scopes       TEXT[] NOT NULL DEFAULT '{}',
	hint         TEXT NOT NULL DEFAULT '',
	recoverable  BOOLEAN NOT NULL DEFAULT false,
	created_at   TIMESTAMPTZ NOT NULL,
	expires_at   TIMESTAMPTZ,
	last_used_at TIMESTAMPTZ,
	revoked_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX keys_owner_handle_live ON keys (owner, handle) WHERE revoked_at IS NULL;
CREATE INDEX keys_owner_id ON keys (owner, id);

CREATE TABLE key_secrets (
	hash       BYTEA PRIMARY KEY,
	key_id     TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
	sealed     BYTEA,
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ
);
CREATE INDEX key_secrets_key ON key_secrets (key_id);
CREATE INDEX key_secrets_expires ON key_secrets (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE sessions (
	id               TEXT PRIMARY KEY,
	kind             TEXT NOT NULL,
	key_id           TEXT NOT NULL,
	owner            TEXT NOT NULL,
	name             TEXT NOT NULL DEFAULT '',
	scopes           TEXT[] NOT NULL DEFAULT '{}',
	created_at       TIMESTAMPTZ NOT NULL,
	expires_at       TIMESTAMPTZ NOT NULL,
	revoked_at       TIMESTAMPTZ,
	token_sealed     BYTEA,
	token_id         TEXT NOT NULL DEFAULT '',
	token_expires_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX sessions_login_live ON sessions (key_id, name) WHERE kind = 'login' AND revoked_at IS NULL;
CREATE INDEX sessions_owner_id ON sessions (owner, id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE refresh_tokens (
	hash         BYTEA PRIMARY KEY,
	session_id   TEXT NOT NULL,
	key_id       TEXT NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	expires_at   TIMESTAMPTZ NOT NULL,
	spent_at     TIMESTAMPTZ,
	child_sealed BYTEA
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE signing_keys (
	id         TEXT PRIMARY KEY,
	algorithm  TEXT NOT NULL,
	sealed     BYTEA NOT NULL,
	public     BYTEA,
	created_at TIMESTAMPTZ NOT NULL,
	retired_at TIMESTAMPTZ,
	expires_at TIMESTAMPTZ
);

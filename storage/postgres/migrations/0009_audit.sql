-- Version 9: the audit trail, append-only.
CREATE TABLE audit (
	id     text        PRIMARY KEY,
	at     timestamptz NOT NULL,
	owner  text        NOT NULL,
	action text        NOT NULL,
	target text        NOT NULL,
	detail text        NOT NULL DEFAULT '',
	actor  jsonb       NOT NULL
);
CREATE INDEX audit_owner ON audit (owner, id);
CREATE INDEX audit_at ON audit (at);

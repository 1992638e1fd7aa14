-- Version 11: the audit trail, append-only.
CREATE TABLE audit (
	id         TEXT    PRIMARY KEY,
	at         INTEGER NOT NULL,
	owner      TEXT    NOT NULL,
	action     TEXT    NOT NULL,
	target     TEXT    NOT NULL,
	detail     TEXT    NOT NULL DEFAULT '',
	actor      TEXT    NOT NULL -- JSON
) WITHOUT ROWID;
CREATE INDEX audit_owner ON audit (owner, id);
CREATE INDEX audit_at ON audit (at);

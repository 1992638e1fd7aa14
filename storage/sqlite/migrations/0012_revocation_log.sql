-- Version 12: revocations, for the other processes on the same file (the
-- admin command, a second server): each polls the rows it has not seen.
CREATE TABLE revocation_log (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	origin TEXT    NOT NULL, -- the process that wrote it: it skips its own
	kind   TEXT    NOT NULL,
	ref    TEXT    NOT NULL,
	at     INTEGER NOT NULL
);

-- Version 9: usage analytics: per key, per hour, per outcome.
CREATE TABLE key_usage (
	key_id  TEXT    NOT NULL,
	start   INTEGER NOT NULL, -- the hour's start, Unix seconds
	outcome TEXT    NOT NULL,
	count   INTEGER NOT NULL,
	PRIMARY KEY (key_id, start, outcome)
) WITHOUT ROWID;
CREATE INDEX key_usage_start ON key_usage (start);

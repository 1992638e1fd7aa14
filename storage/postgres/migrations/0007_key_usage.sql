-- Version 7: usage analytics: per key, per hour, per outcome.
CREATE TABLE key_usage (
	key_id  text        NOT NULL,
	start   timestamptz NOT NULL,
	outcome text        NOT NULL,
	count   bigint      NOT NULL,
	PRIMARY KEY (key_id, start, outcome)
);
CREATE INDEX key_usage_start ON key_usage (start);

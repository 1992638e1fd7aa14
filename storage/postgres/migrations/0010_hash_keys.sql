-- Version 10: the keys of the keyed hashes, sealed under the server secret,
-- so that the secret can change while every hash stays as it is.
CREATE TABLE hash_keys (
	name       TEXT        PRIMARY KEY,
	sealed     BYTEA       NOT NULL,
	created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

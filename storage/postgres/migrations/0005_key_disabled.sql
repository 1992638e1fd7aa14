-- Version 5: a key can be disabled without being deleted.
ALTER TABLE keys ADD COLUMN disabled boolean NOT NULL DEFAULT false;

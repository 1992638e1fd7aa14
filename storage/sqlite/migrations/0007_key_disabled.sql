-- Version 7: a key can be disabled without being deleted.
ALTER TABLE keys ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;

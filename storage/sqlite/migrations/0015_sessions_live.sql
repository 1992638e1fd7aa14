-- Version 15: a new session updates four B-trees of sessions, not six.
-- Three of its indexes were placed by owner or key, so each new session
-- wrote a page of each wherever its owner's entries sit: sessions_owner_id
-- (owner, id) for the owner's list and sessions_key_live (key_id, id) for
-- the cap per key become one index of the live sessions, by owner, then
-- key (a key's sessions are its owner's). sessions_expires went only to
-- cleanup, which now walks the table by rowid on the reader pool instead,
-- a few times an hour.
DROP INDEX sessions_owner_id;
DROP INDEX sessions_key_live;
DROP INDEX sessions_expires;
CREATE INDEX sessions_live ON sessions (owner, key_id, id) WHERE revoked_at = 0;

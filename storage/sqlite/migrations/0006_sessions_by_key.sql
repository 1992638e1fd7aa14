-- Version 6: the live sessions of a key, newest first, for the cap on
-- sessions per key (EndOldestSessions).
CREATE INDEX sessions_key_live ON sessions (key_id, id) WHERE revoked_at = 0;

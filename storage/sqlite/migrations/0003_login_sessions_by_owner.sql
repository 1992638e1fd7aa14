-- Version 3: a login session is unique per (owner, key, name), so that the
-- app's own users, signed in without a key (key_id ''), each have theirs.
DROP INDEX sessions_login_live;
CREATE UNIQUE INDEX sessions_login_live ON sessions (owner, key_id, name) WHERE kind = 'login' AND revoked_at = 0;

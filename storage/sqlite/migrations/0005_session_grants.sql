-- Version 5: a grant session and its first refresh token are written by one
-- statement (an insert into this view), atomic as every statement is, so
-- that a key exchange holds the write lock for one statement, not a
-- transaction of two.
CREATE VIEW session_grants AS
	SELECT s.id, s.kind, s.key_id, s.owner, s.name, s.scopes, s.created_at, s.expires_at, s.revoked_at,
		s.token_sealed, s.token_id, s.token_expires_at,
		r.hash AS rt_hash, r.session_id AS rt_session_id, r.key_id AS rt_key_id, r.created_at AS rt_created_at, r.expires_at AS rt_expires_at
	FROM sessions s JOIN refresh_tokens r ON r.session_id = s.id;

CREATE TRIGGER session_grants_insert INSTEAD OF INSERT ON session_grants BEGIN
	INSERT INTO sessions (id, kind, key_id, owner, name, scopes, created_at, expires_at, revoked_at, token_sealed, token_id, token_expires_at)
		VALUES (NEW.id, NEW.kind, NEW.key_id, NEW.owner, NEW.name, NEW.scopes, NEW.created_at, NEW.expires_at, NEW.revoked_at,
			NEW.token_sealed, NEW.token_id, NEW.token_expires_at);
	INSERT INTO refresh_tokens (hash, session_id, key_id, created_at, expires_at, spent_at, child_sealed)
		VALUES (NEW.rt_hash, NEW.rt_session_id, NEW.rt_key_id, NEW.rt_created_at, NEW.rt_expires_at, 0, NULL);
END;

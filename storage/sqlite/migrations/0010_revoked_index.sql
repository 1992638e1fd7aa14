-- Version 10: the revocation feed reads what was revoked since an instant.
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at > 0;
CREATE INDEX keys_revoked ON keys (revoked_at) WHERE revoked_at > 0;

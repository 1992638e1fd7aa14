-- Version 11: cleanup erases the sealed pairs of spent refresh tokens past
-- their grace; this partial index holds only the rows that still keep one,
-- so that it reads those, not every refresh token.
CREATE INDEX refresh_tokens_sealed ON refresh_tokens (spent_at) WHERE child_sealed IS NOT NULL;

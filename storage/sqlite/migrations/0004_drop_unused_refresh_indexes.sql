-- Version 4: no query uses these two (Cleanup walks refresh_tokens by its
-- primary key); each cost a page write on every key exchange and refresh.
DROP INDEX refresh_tokens_session;
DROP INDEX refresh_tokens_expires;

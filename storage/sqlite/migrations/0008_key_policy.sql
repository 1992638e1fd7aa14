-- Version 8: a key's policy (rate limits, credits, allowed addresses,
-- metadata) as JSON; '' for none.
ALTER TABLE keys ADD COLUMN policy TEXT NOT NULL DEFAULT '';

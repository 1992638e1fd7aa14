-- Version 6: a key's policy (rate limits, credits, allowed addresses,
-- metadata) as JSON; '' for none.
ALTER TABLE keys ADD COLUMN policy text NOT NULL DEFAULT '';

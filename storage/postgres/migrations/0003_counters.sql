-- Version 3: the counters behind rate limits (one row per name, holding its
-- current window) and usage credits (one balance per name). Times are Unix
-- milliseconds, as authkit.WindowOf computes them.
CREATE TABLE counter_windows (
	name text PRIMARY KEY,
	window_end bigint NOT NULL,
	count bigint NOT NULL
);
CREATE INDEX counter_windows_end ON counter_windows (window_end);
CREATE TABLE counter_balances (
	name text PRIMARY KEY,
	remaining bigint NOT NULL,
	refilled_at bigint NOT NULL
);

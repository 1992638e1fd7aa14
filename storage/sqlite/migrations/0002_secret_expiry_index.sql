-- Version 2: Cleanup finds superseded key secrets without a scan.
CREATE INDEX key_secrets_expires ON key_secrets (expires_at) WHERE expires_at <> 0;

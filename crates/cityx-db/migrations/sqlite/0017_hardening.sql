-- Hardening (accounts and tokens). Keep in step with the other backend's 0017_hardening.sql.
--
-- A token made with another token remembers its maker: it may not outlive it, and revoking
-- the maker revokes it too (and what it made in turn).
ALTER TABLE api_tokens ADD COLUMN parent_id TEXT;
CREATE INDEX api_tokens_by_parent ON api_tokens (parent_id);

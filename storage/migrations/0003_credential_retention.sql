-- Per-credential version retention (PutCredential.max_versions): each version row carries
-- the limit in force when it was written; the current row's value is the credential's.
ALTER TABLE credentials
  ADD COLUMN max_versions integer NOT NULL DEFAULT 0 CHECK (max_versions >= 0);

GRANT SELECT (max_versions) ON credentials TO {{writer}};
GRANT SELECT (max_versions) ON credentials TO {{admin}};

-- credvault schema, version 7: why each audit checkpoint was written.
--
-- Exports name the kind of every checkpoint (AuditCheckpointKind in audit.proto), so that
-- an auditor can tell a scheduled signature from the anchor of a purge or the checkpoint
-- of a destruction. Checkpoints written before this version keep NULL: unknown.
ALTER TABLE audit_checkpoints
  ADD COLUMN kind text CHECK (kind IN ('periodic', 'purge', 'erasure'));

-- The purge functions insert their checkpoint without naming a kind: it is a purge's.
ALTER TABLE audit_checkpoints ALTER COLUMN kind SET DEFAULT 'purge';

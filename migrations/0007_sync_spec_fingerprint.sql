-- What a type's stored records were read with (its properties and their canonical mapping). When the
-- mapping changes, or records predate the typed fields, the next sync of the type re-reads it whole.
ALTER TABLE sync_state ADD COLUMN spec_fingerprint text;

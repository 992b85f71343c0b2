-- sync_state.pending_associations holds up to 999 ids (8 KB) and is rewritten with every page. Stored
-- compressible (the default), PostgreSQL ran pglz over it at each update: about 4 % of all the CPU a full
-- sync used, for ids that barely compress. Stored out of line uncompressed instead.
ALTER TABLE sync_state ALTER COLUMN pending_associations SET STORAGE EXTERNAL;

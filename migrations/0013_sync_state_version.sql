-- Each save of a type's sync state moves its version on, and a save names the version it follows. An
-- asynchronous commit lost in a database crash leaves the stored version behind what the syncer holds:
-- its next save finds that, and the syncer resumes from what is stored instead of carrying on past
-- pages the database never kept.
ALTER TABLE sync_state ADD COLUMN version bigint NOT NULL DEFAULT 0;

-- Records whose associations still have to be read. A page of records and its pending ids commit
-- together; associations are then read in batches of up to 1,000 ids (HubSpot's maximum), so the sync
-- makes about a tenth of the association calls a per-page read would, and a crash loses none.
CREATE TABLE sync_pending_associations (
  object_type text NOT NULL,
  id          bigint NOT NULL,
  PRIMARY KEY (object_type, id)
);

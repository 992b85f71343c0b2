-- A first full sync writes the days it back-fills from property history beside the page chain, on a
-- connection of their own, instead of inside each page's transaction (they were about half of a
-- companies page's write time). Each page leaves its ids here, committed with its records and cursor;
-- the back-fill writer deletes the row in the transaction that writes those companies' days. Rows a
-- crash leaves behind are read again by id (batch read with property history) by the next sync.
CREATE TABLE sync_pending_backfill (
  object_type text   NOT NULL,
  first_id    bigint NOT NULL,  -- the page's lowest id: names the row
  ids         bigint[] NOT NULL,
  PRIMARY KEY (object_type, first_id)
);

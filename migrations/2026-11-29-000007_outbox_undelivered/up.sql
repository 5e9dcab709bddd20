-- What `/metrics` counts at every scrape: messages not delivered (pending or dead), by kind. The
-- outbox keeps delivered messages, so without this the count would read the whole table.
CREATE INDEX outbox_undelivered ON outbox (kind, status) WHERE status <> 'delivered';

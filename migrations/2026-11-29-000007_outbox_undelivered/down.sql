DROP INDEX outbox_undelivered;

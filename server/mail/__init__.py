"""Mail (SPEC 11.1): an outbox written in the request's transaction, sent over SMTP by a job."""

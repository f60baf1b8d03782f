"""Account recovery and sessions (SPEC 11.1): email verification, password reset and change,
the list of sessions, and ending them."""

"""Members: the people who sign in to the portals (SPEC 12.3), one NGO's, one partner's or the
operators'; their invitations and their sessions on the server."""

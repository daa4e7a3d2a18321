"""One input through several models at once (run) and its export."""

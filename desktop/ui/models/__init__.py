"""The Models window: a shell (window), one module per tab, the download queue and its rows."""

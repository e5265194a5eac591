"""The application: the command line, the daemon, its settings and its sources."""

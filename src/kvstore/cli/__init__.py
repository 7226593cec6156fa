"""The command-line client: one-shot commands and the interactive session, on the library."""

"""Platform firmware: the tables the board publishes and the OS parses at boot."""

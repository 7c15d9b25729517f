"""Resource graph -> one TaskFlow flow per operation; engines to run it."""

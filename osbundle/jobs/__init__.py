"""Builds as jobs: the job store, job records, workers, process identity, stored progress."""

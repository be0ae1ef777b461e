"""`make bench` (`python -m bench`): release day, log-in and results reads, each measured beside its
floor on the same machine and in the same run (contract section 8). See bench/README.md."""

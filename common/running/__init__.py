"""Running and records: profiles, the experiment runner (cells x seeds -> Sacred runs), its command line and
launchers, the generic offline job, evaluation rollouts, and the record store (roots, atomic writes, plans)."""

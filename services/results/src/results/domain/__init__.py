"""Results rules: no I/O. The exams table and score rules are shared with the board tool, in
`crs_shared.domain.exams`."""

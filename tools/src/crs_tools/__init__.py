"""Exam-board command-line tools and local development servers."""

"""The job lifecycle, Discord-free: rows, queue, files, cancel, resume, shutdown."""

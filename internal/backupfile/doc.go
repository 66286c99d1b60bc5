// Package backupfile writes the files of a backup (sluice.BackupWriter)
// into a directory or a tar stream, and unpacks such a stream into a
// directory: the three ways `sluice backup`, `sluice restore` and the
// server's backup endpoint move a copy of the embedded store.
package backupfile

// Package s3 reads and writes objects in S3 (or a compatible store): the
// NDJSON files of transfer, where a source streams an object and a target
// writes a temporary local file and uploads it whole when complete, and
// the streams of sluice backup and restore (Upload, Get, List).
package s3

// Package s3 reads and writes the NDJSON files of transfer in S3 (or a
// compatible store): a source streams an object, a target writes a
// temporary local file and uploads it whole when complete.
package s3

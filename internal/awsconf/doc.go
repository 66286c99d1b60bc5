// Package awsconf is the connection to AWS that the sinks on
// aws-sdk-go-v2 share (kinesis, s3): the region, an endpoint of a
// compatible service, the profile or static credentials, their
// validation, and the SDK's configuration loaded from them.
package awsconf

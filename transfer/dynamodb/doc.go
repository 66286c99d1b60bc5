// Package dynamodb reads a DynamoDB table as a source of events for
// transfer: a parallel Scan, each item mapped to an envelope by a jq
// expression, with ids made from the item's key (a run again stores
// nothing twice) and a cursor per segment kept in a file (an interrupted
// import resumes where it stopped).
package dynamodb

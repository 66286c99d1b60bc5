// Package webhook is the sink that POSTs batches of events to an HTTP
// receiver, signed as the Standard Webhooks specification says
// (standardwebhooks.com).
//
// A delivery is one POST of {"events": [<record>, …]} (each record is a
// stored event as GET /v1/events returns it, or what the sink's transform
// made of it), with the headers webhook-id (the same for the same records,
// so a retried batch can be told apart from a new one), webhook-timestamp
// (Unix seconds) and webhook-signature ("v1,<base64 HMAC-SHA256 of
// id.timestamp.body>", one per secret, space-separated: rotation is a
// second secret for a while). Verify checks a delivery for a receiver
// written in Go.
//
// Fields (beside the common ones of every sink):
//
//	url      where to POST, http or https (required)
//	secret   whsec_<base64 of 24–64 bytes>; none: deliveries are unsigned
//	secrets  more secrets that also sign (rotation)
//	headers  sent with every delivery (Authorization, …)
//	timeout  one delivery, connect to answer (10s)
//
// Default batches: 500 events, 1 MiB, no linger.
//
// Answers: 2xx delivered; 408, 429 and 5xx retried by the runner after
// their Retry-After (seconds or a date); 410 Gone disables the sink until
// it is resumed; a redirect is not followed and, like any other 4xx,
// refuses the batch for good (its records go to the dead letters).
// Connection errors and timeouts are retried. The sink does not retry by
// itself: the runner does.
//
// A secret is not required: a receiver on a private network may not need
// one. Without one, anyone who can reach the receiver can forge a delivery.
package webhook

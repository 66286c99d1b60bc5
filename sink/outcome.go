package sink

import (
	"fmt"

	"github.com/sluicehq/sluice"
)

// Outcome turns the errors of a batch's records (nil for those
// delivered), as a sink that sends records one by one collects them, into
// what its Deliver returns: nil when every record was delivered; a plain
// error when none was and every failure may pass (the destination failed
// as a whole: the runner's breaker counts it); a *sluice.DeliveryError
// otherwise. dest names the destination in the plain error.
func Outcome(dest string, errs []error) error {
	var failed []sluice.RecordError
	permanent := false
	for i, err := range errs {
		if err != nil {
			failed = append(failed, sluice.RecordError{Index: i, Err: err})
			permanent = permanent || sluice.IsPermanent(err)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case len(failed) == len(errs) && !permanent:
		return fmt.Errorf("%s: none of %d records delivered, the first: %w", dest, len(errs), failed[0].Err)
	}
	return &sluice.DeliveryError{Failed: failed}
}

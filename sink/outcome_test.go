package sink

import (
	"errors"
	"slices"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestOutcome(t *testing.T) {
	t.Parallel()
	down := errors.New("down")
	refused := sluice.Permanent(errors.New("too large"))
	t.Run("AllDelivered", func(t *testing.T) {
		if err := Outcome("dest", []error{nil, nil}); err != nil {
			t.Errorf("%v, want nil", err)
		}
	})
	t.Run("NoneDelivered", func(t *testing.T) {
		err := Outcome("dest", []error{down, down})
		var de *sluice.DeliveryError
		if errors.As(err, &de) || !errors.Is(err, down) || sluice.IsPermanent(err) {
			t.Fatalf("%v: want a plain retryable error wrapping the first", err)
		}
		if want := "dest: none of 2 records delivered, the first: down"; err.Error() != want {
			t.Errorf("%q, want %q", err, want)
		}
	})
	for _, tt := range []struct {
		name   string
		errs   []error
		failed []int
	}{
		{"Some", []error{nil, down, nil, refused}, []int{1, 3}},
		{"NoneWithAPermanent", []error{down, refused}, []int{0, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var de *sluice.DeliveryError
			if !errors.As(Outcome("dest", tt.errs), &de) {
				t.Fatal("want a *sluice.DeliveryError")
			}
			var got []int
			for _, f := range de.Failed {
				if f.Err != tt.errs[f.Index] {
					t.Errorf("record %d: %v, want %v", f.Index, f.Err, tt.errs[f.Index])
				}
				got = append(got, f.Index)
			}
			if !slices.Equal(got, tt.failed) {
				t.Errorf("failed %v, want %v", got, tt.failed)
			}
		})
	}
}

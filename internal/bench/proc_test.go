package bench_test

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/bench"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestWatchProcess(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	stop := bench.WatchProcess(os.Getpid())
	before, err := bench.ReadProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	testutil.Eventually(t, 30*time.Second, func() bool { // burn CPU until the kernel counts some
		for i := range 1_000_000 {
			x += i
		}
		now, err := bench.ReadProcess(os.Getpid())
		return err == nil && now.CPUSeconds >= before.CPUSeconds+0.05
	}, "the process uses 50ms of CPU")
	ps := stop()
	if ps.CPUSeconds < 0.045 || ps.PeakRSSBytes < 1<<20 { // 0.045: float rounding of 5 ticks
		t.Fatalf("stats %+v, want at least 0.05 CPU seconds and 1 MiB", ps)
	}
	if again := stop(); again != ps {
		t.Fatalf("second stop %+v, first %+v", again, ps)
	}
	if _, err := bench.ReadProcess(-1); err == nil {
		t.Fatal("ReadProcess(-1): no error")
	}
	_ = x
}

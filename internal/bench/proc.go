package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcStats is what a process used.
type ProcStats struct {
	// CPUSeconds is the user and system CPU time the process used (between
	// WatchProcess and its stop, or since its start for ReadProcess).
	CPUSeconds float64 `json:"cpu_seconds"`
	// PeakRSSBytes is the process's peak resident memory since it started
	// (VmHWM).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

// clockTicks is the unit of the CPU times in /proc/<pid>/stat (USER_HZ):
// 100 on every Linux platform Go supports.
const clockTicks = 100

// ReadProcess reads the CPU time process pid has used since it started and
// its peak resident memory from /proc/<pid>/stat and /proc/<pid>/status.
// Linux only.
func ReadProcess(pid int) (ProcStats, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStats{}, fmt.Errorf("process stats: %w", err)
	}
	// The name, field 2, is in parentheses and may hold spaces: the
	// fields counted from 3 (state) start after the last ')'.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return ProcStats{}, fmt.Errorf("process stats: /proc/%d/stat: no ')'", pid)
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 13 {
		return ProcStats{}, fmt.Errorf("process stats: /proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(fields[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return ProcStats{}, fmt.Errorf("process stats: /proc/%d/stat: bad utime or stime", pid)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcStats{}, fmt.Errorf("process stats: %w", err)
	}
	ps := ProcStats{CPUSeconds: float64(utime+stime) / clockTicks}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return ProcStats{}, fmt.Errorf("process stats: /proc/%d/status: VmHWM: %w", pid, err)
			}
			ps.PeakRSSBytes = kb << 10
		}
	}
	return ps, nil
}

// watchEvery is how often WatchProcess samples.
const watchEvery = 200 * time.Millisecond

// WatchProcess starts sampling process pid (ReadProcess) every 200ms. stop
// takes a last sample, ends the sampling and returns the CPU seconds the
// process used since WatchProcess was called and its peak resident memory,
// from the last sample that succeeded: call it before the process exits
// (before sending SIGTERM, say) for exact figures; if the process exited
// in between, the figures are those of the last sample, up to 200ms old.
// stop may be called more than once and returns the same figures.
func WatchProcess(pid int) (stop func() ProcStats) {
	first, _ := ReadProcess(pid)
	var (
		mu   sync.Mutex
		last = first
	)
	sample := func() {
		if ps, err := ReadProcess(pid); err == nil {
			mu.Lock()
			last = ps
			mu.Unlock()
		}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(watchEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	var once sync.Once
	var result ProcStats
	return func() ProcStats {
		once.Do(func() {
			close(done)
			<-stopped
			sample()
			mu.Lock()
			defer mu.Unlock()
			result = ProcStats{CPUSeconds: last.CPUSeconds - first.CPUSeconds, PeakRSSBytes: last.PeakRSSBytes}
		})
		return result
	}
}

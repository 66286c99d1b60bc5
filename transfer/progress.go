package transfer

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Mode is how progress is shown.
type Mode int

const (
	// Lines writes a plain line every Progress.Every: for logs and pipes.
	Lines Mode = iota
	// Bar draws a bar on a terminal, redrawn in place.
	Bar
	// JSON writes one JSON object a line every Progress.Every, and the
	// summary as the last, for scripts.
	JSON
)

// Progress reports a copy as it goes: events read per second, how many
// stored and rejected, the share done and the time left when the source
// knows its size.
type Progress struct {
	// W is where reports go.
	W io.Writer
	// Mode is how.
	Mode Mode
	// Label starts every report ("import", "export").
	Label string
	// Every is how often Lines and JSON report; default 5s.
	Every time.Duration
}

// Report is one report.
type Report struct {
	Counts
	// Rate is events read per second since the start.
	Rate float64 `json:"events_per_second"`
	// Done and Total are how much of the source is read, in its unit;
	// Total is 0 when unknown.
	Done  int64 `json:"done,omitempty"`
	Total int64 `json:"total,omitempty"`
	// ETA is the time left in seconds, when Total is known.
	ETA float64 `json:"eta_seconds,omitempty"`
	// Elapsed is the time since the start in seconds.
	Elapsed float64 `json:"elapsed_seconds"`
	// Final marks the summary; Error is the copy's failure, if any.
	Final bool   `json:"final,omitempty"`
	Error string `json:"error,omitempty"`
}

// report is the report of c at now.
func report(src Source, c Counts, start, now time.Time) Report {
	el := now.Sub(start).Seconds()
	r := Report{Counts: c, Elapsed: el, Rate: float64(c.Read) / max(el, 1e-9)}
	if s, ok := src.(Sized); ok {
		r.Done, r.Total = s.Progress()
		if r.Total > 0 && r.Done > 0 && r.Done < r.Total {
			r.ETA = el * float64(r.Total-r.Done) / float64(r.Done)
		}
	}
	return r
}

// line is the plain text of r.
func (p *Progress) line(r Report) string {
	s := fmt.Sprintf("%s: %d events read, %.0f/s, %d stored, %d duplicates, %d rejected",
		p.Label, r.Read, r.Rate, r.Stored, r.Duplicates, r.Rejected)
	if r.Total > 0 {
		s += fmt.Sprintf(", %.1f%% done", 100*float64(r.Done)/float64(r.Total))
		if !r.Final {
			s += fmt.Sprintf(", %s left", (time.Duration(r.ETA) * time.Second).Round(time.Second))
		}
	}
	if r.Final {
		s += fmt.Sprintf(", in %s", (time.Duration(r.Elapsed * float64(time.Second))).Round(time.Millisecond))
	}
	if r.Error != "" {
		s += ": " + r.Error
	}
	return s
}

// start begins reporting on c, until the returned function, called with
// the summary and the copy's error, writes the last report.
func (p *Progress) start(src Source, c *counters, start time.Time) func(Summary, error) {
	if p == nil {
		return func(Summary, error) {}
	}
	every := p.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	var bar *progressbar.ProgressBar
	if p.Mode == Bar {
		every = 200 * time.Millisecond
		total := int64(-1)
		if s, ok := src.(Sized); ok {
			if _, t := s.Progress(); t > 0 {
				total = t
			}
		}
		bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.W), progressbar.OptionSetWidth(30),
			progressbar.OptionSetPredictTime(true), progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetRenderBlankState(true))
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				p.show(bar, report(src, c.load(), start, now))
			}
		}
	})
	return func(s Summary, err error) {
		close(done)
		wg.Wait()
		r := report(src, s.Counts, start, start.Add(s.Elapsed))
		r.Final, r.ETA = true, 0
		if err != nil {
			r.Error = err.Error()
		}
		if bar != nil {
			p.show(bar, r)
			_ = bar.Exit()
			fmt.Fprintln(p.W)
		}
		p.write(r)
	}
}

// show writes r as the mode says.
func (p *Progress) show(bar *progressbar.ProgressBar, r Report) {
	if bar == nil {
		p.write(r)
		return
	}
	bar.Describe(fmt.Sprintf("%d events, %.0f/s, %d rejected", r.Read, r.Rate, r.Rejected))
	if r.Total > 0 {
		_ = bar.Set64(r.Done)
	} else {
		_ = bar.Set64(r.Read)
	}
}

// write writes r as a line of text or JSON.
func (p *Progress) write(r Report) {
	if p.Mode == JSON {
		b, _ := json.Marshal(r)
		fmt.Fprintf(p.W, "%s\n", b)
		return
	}
	fmt.Fprintln(p.W, p.line(r))
}

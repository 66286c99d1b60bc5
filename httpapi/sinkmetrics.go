package httpapi

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/sink"
)

// sinkCollector reports each sink's figures at every scrape: the counts
// and histograms of the sinks this process runs, and every sink's lag
// (read from the store, the same on every process).
type sinkCollector struct{ sinks Sinks }

var (
	sinkLabel    = []string{"sink"}
	sinkCounters = []struct {
		desc  *prometheus.Desc
		value func(sink.Counts) uint64
	}{
		{prometheus.NewDesc("sluice_sink_delivered_total", "Records a sink's destination took (a record sent again counts again), in this process.", sinkLabel, nil),
			func(c sink.Counts) uint64 { return c.Delivered }},
		{prometheus.NewDesc("sluice_sink_failed_total", "Deliveries of a record that failed, in this process.", sinkLabel, nil),
			func(c sink.Counts) uint64 { return c.Failed }},
		{prometheus.NewDesc("sluice_sink_retried_total", "Records sent again after a failure, in this process.", sinkLabel, nil),
			func(c sink.Counts) uint64 { return c.Retried }},
		{prometheus.NewDesc("sluice_sink_dead_lettered_total", "Records a sink gave up on (stored as dead letters), in this process.", sinkLabel, nil),
			func(c sink.Counts) uint64 { return c.DeadLettered }},
		{prometheus.NewDesc("sluice_sink_skipped_total", "Positions a sink passed over because retention had removed them before it delivered them, in this process.", sinkLabel, nil),
			func(c sink.Counts) uint64 { return c.Skipped }},
	}
	sinkBatchDesc   = prometheus.NewDesc("sluice_sink_batch_records", "Records per delivery.", sinkLabel, nil)
	sinkLatencyDesc = prometheus.NewDesc("sluice_sink_delivery_latency_seconds", "From an event's commit to its acknowledgement by the destination, for live deliveries.", sinkLabel, nil)
	sinkBreakerDesc = prometheus.NewDesc("sluice_sink_breaker_state", "A sink's circuit breaker in this process: 0 closed, 1 half-open, 2 open.", sinkLabel, nil)
	sinkRunDesc     = prometheus.NewDesc("sluice_sink_running", "1 when this process runs the sink (holds its lease), else 0.", sinkLabel, nil)
	sinkLagDesc     = prometheus.NewDesc("sluice_sink_lag_events", "Events after a sink's checkpoint, those its filter skips included.", sinkLabel, nil)
	sinkLagSecDesc  = prometheus.NewDesc("sluice_sink_lag_seconds", "Age of the first event after a sink's checkpoint; 0 when it is caught up.", sinkLabel, nil)
	sinkDeadDesc    = prometheus.NewDesc("sluice_sink_dead_letters", "Dead letters a sink holds.", sinkLabel, nil)
)

func (c sinkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range sinkCounters {
		ch <- m.desc
	}
	for _, d := range []*prometheus.Desc{sinkBatchDesc, sinkLatencyDesc, sinkBreakerDesc, sinkRunDesc, sinkLagDesc, sinkLagSecDesc, sinkDeadDesc} {
		ch <- d
	}
}

func (c sinkCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.sinks.Stats() {
		for _, m := range sinkCounters {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.value(st.Counts)), st.Name)
		}
		ch <- prometheus.MustNewConstHistogram(sinkBatchDesc, st.BatchSizes.Count, st.BatchSizes.Sum, st.BatchSizes.Buckets, st.Name)
		ch <- prometheus.MustNewConstHistogram(sinkLatencyDesc, st.Latency.Count, st.Latency.Sum, st.Latency.Buckets, st.Name)
		ch <- prometheus.MustNewConstMetric(sinkBreakerDesc, prometheus.GaugeValue, float64(st.Breaker), st.Name)
		running := 0.0
		if st.Running {
			running = 1
		}
		ch <- prometheus.MustNewConstMetric(sinkRunDesc, prometheus.GaugeValue, running, st.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	states, err := c.sinks.States(ctx)
	if err != nil {
		for _, d := range []*prometheus.Desc{sinkLagDesc, sinkLagSecDesc, sinkDeadDesc} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	for _, st := range states {
		ch <- prometheus.MustNewConstMetric(sinkLagDesc, prometheus.GaugeValue, float64(st.LagEvents), st.Name)
		ch <- prometheus.MustNewConstMetric(sinkLagSecDesc, prometheus.GaugeValue, st.LagSeconds, st.Name)
		ch <- prometheus.MustNewConstMetric(sinkDeadDesc, prometheus.GaugeValue, float64(st.DeadLetters), st.Name)
	}
}

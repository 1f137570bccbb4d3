package server

import (
	"bytes"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
)

// metrics are the server's Prometheus metrics, in a registry of its own
// (two servers in one process do not share counters). Label values are
// blueprint keys the server serves, block types, statuses and routes:
// never what a client sent.
type metrics struct {
	reg *prometheus.Registry

	runs          *prometheus.CounterVec
	runDuration   *prometheus.HistogramVec
	blockDuration *prometheus.HistogramVec
	refused       *prometheus.CounterVec
	historyWrite  prometheus.Histogram
	historyFailed prometheus.Counter
	requests      *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	invalid       prometheus.Gauge
	connections   prometheus.Gauge
	connsRefused  prometheus.Counter
}

// durationBuckets span a no-op run (tens of µs) to a long HTTP call.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

func newMetrics(admit *admission) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bp_runs_total", Help: "Runs that ended, by blueprint and status (completed, returned, failed, cancelled).",
		}, []string{"blueprint", "status"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bp_run_duration_seconds", Help: "How long runs took, from start to end (recording excluded), by blueprint.", Buckets: durationBuckets,
		}, []string{"blueprint"}),
		blockDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bp_block_duration_seconds", Help: "How long blocks took, by block type.", Buckets: durationBuckets,
		}, []string{"type"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bp_runs_refused_total", Help: "Run requests refused before they started: busy (queue full, 429), queue_timeout (waited past the deadline, 503), closing (shutting down, 503).",
		}, []string{"reason"}),
		historyWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bp_history_write_seconds", Help: "How long saving a run's record took, the wait for its group commit included.", Buckets: durationBuckets,
		}),
		historyFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bp_history_write_failures_total", Help: "Runs that ended but could not be recorded in the run history.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bp_http_requests_total", Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bp_blueprint_reloads_total", Help: "Reloads of the blueprint directory: ok, or invalid (some file kept its previous version or did not load).",
		}, []string{"result"}),
		invalid: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bp_blueprints_invalid", Help: "Blueprint files that do not load or validate now (the previous version of each, if any, is served).",
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bp_http_connections_open", Help: "Open HTTP connections.",
		}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bp_http_connections_refused_total", Help: "Connections served only /healthz, or closed at once, because the connection cap was reached.",
		}),
	}
	m.reg.MustRegister(m.runs, m.runDuration, m.blockDuration, m.refused, m.historyWrite, m.historyFailed,
		m.requests, m.reloads, m.invalid, m.connections, m.connsRefused,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bp_runs_in_flight", Help: "Runs in progress."},
			func() float64 { return float64(admit.inFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bp_runs_queued", Help: "Run requests waiting for a run to end before theirs starts."},
			func() float64 { return float64(admit.waiting()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the server's metrics registry: a program that embeds the
// server can add its own collectors, or serve them elsewhere.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// blockFinished observes a block's duration.
func (m *metrics) blockFinished(e *engine.Event) {
	m.blockDuration.WithLabelValues(e.Type).Observe(e.Duration.Seconds())
}

// runEnded counts a run that ran, and its record.
func (m *metrics) runEnded(blueprint string, res *runner.Result, recorded bool) {
	m.runs.WithLabelValues(blueprint, res.Status).Inc()
	m.runDuration.WithLabelValues(blueprint).Observe(res.Duration.Seconds())
	if recorded {
		m.historyWrite.Observe(res.HistoryTime.Seconds())
		if res.HistoryErr != nil {
			m.historyFailed.Inc()
		}
	}
}

// refusedRun counts a run refused before it started.
func (m *metrics) refusedRun(err error) {
	switch err {
	case errBusy:
		m.refused.WithLabelValues("busy").Inc()
	case errQueueTimeout:
		m.refused.WithLabelValues("queue_timeout").Inc()
	case errClosing:
		m.refused.WithLabelValues("closing").Inc()
	}
}

// GET /metrics, in the Prometheus text format, scrubbed like every answer.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	families, err := s.metrics.reg.Gather()
	if err != nil && len(families) == 0 {
		s.fail(w, http.StatusInternalServerError, "gathering metrics failed")
		return
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, format)
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			s.fail(w, http.StatusInternalServerError, "encoding metrics failed")
			return
		}
	}
	w.Header().Set("Content-Type", string(format))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(s.scrub.Bytes(b.Bytes()))
}

package server_test

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bprun/bp/server"
)

// scrape reads /metrics with the Prometheus text parser.
func (f *fixture) scrape() map[string]*dto.MetricFamily {
	f.t.Helper()
	a := f.expect(f.do("GET", "/metrics", ""), 200)
	if !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		f.t.Errorf("metrics content type %q", a.header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(a.body))
	if err != nil {
		f.t.Fatalf("metrics do not parse: %v\n%s", err, a.body)
	}
	return fams
}

// metric is the value of a counter, gauge or histogram count whose labels
// include want; 0 when there is none.
func metric(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	fam := fams[name]
	if fam == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range fam.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func TestMetricsMoveWithARun(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	before := f.scrape()
	parseSSE(t, f.expect(f.do("POST", "/v1/blueprints/hello/runs?wait=1", ""), 200).body)
	after := f.scrape()
	for _, c := range []struct {
		name   string
		labels map[string]string
		delta  float64
	}{
		{"bp_runs_total", map[string]string{"blueprint": "hello", "status": "returned"}, 1},
		{"bp_run_duration_seconds", map[string]string{"blueprint": "hello"}, 1},
		{"bp_block_duration_seconds", map[string]string{"type": "logmessage"}, 1},
		{"bp_block_duration_seconds", map[string]string{"type": "returnvalue"}, 1},
		{"bp_history_write_seconds", nil, 1},
		{"bp_http_requests_total", map[string]string{"route": "POST /v1/blueprints/{key}/runs", "code": "200"}, 1},
		{"bp_history_write_failures_total", nil, 0},
	} {
		if d := metric(after, c.name, c.labels) - metric(before, c.name, c.labels); d != c.delta {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, d, c.delta)
		}
	}
	for _, name := range []string{"bp_runs_in_flight", "bp_runs_queued", "go_goroutines", "process_resident_memory_bytes"} {
		if after[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}

func TestMetricsCountALostRecord(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.History = fullDisk{o.History} })
	parseSSE(t, f.expect(f.do("POST", "/v1/blueprints/hello/runs?wait=1", ""), 200).body)
	if n := metric(f.scrape(), "bp_history_write_failures_total", nil); n != 1 {
		t.Errorf("bp_history_write_failures_total = %v, want 1", n)
	}
}

func TestMetricsNeedTheToken(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.Token = "metrics-token-0123" })
	f.expect(f.doWith("GET", "/metrics", "", nil), 401)
	f.scrape()
}

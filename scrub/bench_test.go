package scrub

import (
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// Benchmarks run only with -bench; nothing here runs under plain go test.
//
//	go test -run '^$' -bench . -count 6 ./scrub | tee new.txt; benchstat new.txt

const (
	logSize   = 64 << 20
	chunkSize = 32 << 10 // io.Copy's buffer size
)

// benchSecrets returns n realistic secrets: API tokens, cloud keys,
// passwords, base64 keys, a few multi-line values.
func benchSecrets(n int) []string {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	const printable = alnum + "!#$%&()*+,-./:;<=>?@[]^_{|}~"
	rnd := func(alpha string, k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		return string(b)
	}
	out := make([]string, n)
	for i := range out {
		switch i % 6 {
		case 0:
			out[i] = "ghp_" + rnd(alnum, 36)
		case 1:
			out[i] = "AKIA" + rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
		case 2:
			out[i] = rnd(printable, 12+r.IntN(12)) // a password
		case 3:
			key := make([]byte, 32)
			for j := range key {
				key[j] = byte(r.Uint32())
			}
			out[i] = base64.StdEncoding.EncodeToString(key)
		case 4:
			out[i] = fmt.Sprintf("xoxb-%d-%d-%s", 1e11+r.Int64N(9e11), 1e11+r.Int64N(9e11), rnd(alnum, 24))
		case 5:
			out[i] = rnd(alnum, 20) + "\n" + rnd(alnum, 20) + "\n" // multi-line
		}
	}
	return out
}

var (
	logOnce sync.Once
	logText []byte
)

// benchLog returns 64 MiB of log text in the style a run prints: access
// lines, JSON events, errors with URLs, base64 payloads, stack frames. It
// holds no secret; benchmarks plant some.
func benchLog() []byte {
	logOnce.Do(func() {
		r := rand.New(rand.NewPCG(42, 42))
		words := strings.Fields("the a request response user order item cache retry connection timeout worker block run started finished skipped token value header query result error warning upstream downstream database table row column field batch queue message event handler service")
		levels := []string{"INFO ", "DEBUG", "WARN ", "ERROR"}
		paths := []string{"/api/v1/items", "/api/v2/orders", "/healthz", "/auth/login", "/v1/blueprints/run"}
		hex := func(k int) string {
			b := make([]byte, k)
			for i := range b {
				b[i] = "0123456789abcdef"[r.IntN(16)]
			}
			return string(b)
		}
		var b strings.Builder
		b.Grow(logSize + 1024)
		for b.Len() < logSize {
			ts := fmt.Sprintf("2026-11-25T%02d:%02d:%02d.%03dZ", r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000))
			lvl := levels[r.IntN(len(levels))]
			switch r.IntN(5) {
			case 0:
				fmt.Fprintf(&b, "%s %s [worker-%d] request_id=%s-%s-%s method=GET path=%s/%d status=%d duration=%d.%dms user=user%d@example.com\n",
					ts, lvl, r.IntN(16), hex(8), hex(4), hex(12), paths[r.IntN(len(paths))], r.IntN(100000), 200+r.IntN(300), r.IntN(900), r.IntN(10), r.IntN(1000))
			case 1:
				fmt.Fprintf(&b, `%s %s event {"type":"block.finished","block":"fetch_%d","outcome":"ok","elapsed_ms":%d,"output":{"count":%d,"next":"https://api.example.com/v2/orders?page=%d&limit=100"}}`+"\n",
					ts, lvl, r.IntN(50), r.IntN(5000), r.IntN(1000), r.IntN(40))
			case 2:
				fmt.Fprintf(&b, "%s %s retrying connection to postgres://app@db-%d.internal:5432/app (attempt %d/5): dial tcp 10.0.%d.%d:5432: connect: connection refused\n",
					ts, lvl, r.IntN(4), 1+r.IntN(5), r.IntN(256), r.IntN(256))
			case 3:
				payload := make([]byte, 48+r.IntN(48))
				for i := range payload {
					payload[i] = byte(r.Uint32())
				}
				fmt.Fprintf(&b, "%s %s payload=%s\n", ts, lvl, base64.StdEncoding.EncodeToString(payload))
			default:
				fmt.Fprintf(&b, "%s %s", ts, lvl)
				for range 8 + r.IntN(10) {
					b.WriteByte(' ')
					b.WriteString(words[r.IntN(len(words))])
				}
				b.WriteByte('\n')
			}
		}
		logText = []byte(b.String()[:logSize])
	})
	return logText
}

// plant returns a copy of text with a secret written over a line start
// every ~64 KiB, so that masking happens but does not dominate.
func plant(text []byte, secrets []string) []byte {
	out := append([]byte(nil), text...)
	for i, k := 0, 0; i+200 < len(out); i += 64 << 10 {
		s := strings.TrimSpace(secrets[k%len(secrets)])
		k++
		copy(out[i:], s)
	}
	return out
}

func benchScrubber(secrets []string) (*Scrubber, []string) {
	s := New()
	var pats []string
	for _, sec := range secrets {
		s.Add(sec)
	}
	for _, sec := range secrets {
		pats = append(pats, formTexts(sec, MinSecretLen)...)
	}
	return s, pats
}

func BenchmarkStream(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		secrets := benchSecrets(n)
		s, pats := benchScrubber(secrets)
		text := plant(benchLog(), secrets)
		b.Run(fmt.Sprintf("secrets=%d/impl=scrub", n), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				// A new Writer per 64 MiB: its first masked write
				// allocates the output scratch; later writes reuse it.
				w := s.NewWriter(io.Discard)
				for i := 0; i < len(text); i += chunkSize {
					w.Write(text[i:min(i+chunkSize, len(text))])
				}
				w.Close()
			}
			b.ReportMetric(float64(s.Len()), "patterns")
		})
		b.Run(fmt.Sprintf("secrets=%d/impl=replacer", n), func(b *testing.B) {
			// strings.Replacer: not streaming-correct and leaves the tail
			// of overlapping secrets visible; the baseline we must beat.
			var old []string
			for _, p := range pats {
				old = append(old, p, Mask)
			}
			rep := strings.NewReplacer(old...)
			str := string(text)
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				for i := 0; i < len(str); i += chunkSize {
					rep.WriteString(io.Discard, str[i:min(i+chunkSize, len(str))])
				}
			}
		})
	}
}

// BenchmarkStreamShortSecret is the 1,000-secret stream plus one 8-byte
// and one 4-byte secret, whose short forms shrink the sampling step
// (see shape in matcher.go).
func BenchmarkStreamShortSecret(b *testing.B) {
	for _, short := range []string{"pa55w0rd", "pin7"} {
		secrets := append(benchSecrets(1000), short)
		s, _ := benchScrubber(secrets)
		text := plant(benchLog(), secrets)
		b.Run(fmt.Sprintf("min=%d", len(short)), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				w := s.NewWriter(io.Discard)
				for i := 0; i < len(text); i += chunkSize {
					w.Write(text[i:min(i+chunkSize, len(text))])
				}
				w.Close()
			}
			m := s.m.Load()
			b.ReportMetric(float64(m.step), "step")
		})
	}
}

// BenchmarkStreamWrapped is the worst case for wrapped base64 (wrap.go):
// 64 MiB of MIME-wrapped base64, so that every line is a wrapped line and
// every line break is joined and scanned, of random bytes with one of the
// 1,000 secrets planted every 48 KiB of them (at every byte offset).
func BenchmarkStreamWrapped(b *testing.B) {
	secrets := benchSecrets(1000)
	s, _ := benchScrubber(secrets)
	r := rand.New(rand.NewPCG(76, 76))
	raw := make([]byte, logSize/4*3)
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	for i, k := 0, 0; i+200 < len(raw); i, k = i+48<<10+k%3, k+1 {
		copy(raw[i:], strings.TrimSpace(secrets[k%len(secrets)]))
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var wrapped strings.Builder
	for len(enc) > 0 {
		n := min(len(enc), 76)
		wrapped.WriteString(enc[:n])
		wrapped.WriteByte('\n')
		enc = enc[n:]
	}
	text := []byte(wrapped.String())
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		w := s.NewWriter(io.Discard)
		for i := 0; i < len(text); i += chunkSize {
			w.Write(text[i:min(i+chunkSize, len(text))])
		}
		w.Close()
	}
}

// BenchmarkLine is one 200-byte log line, one-shot, with 1,000 secrets.
func BenchmarkLine(b *testing.B) {
	secrets := benchSecrets(1000)
	s, _ := benchScrubber(secrets)
	line := `2026-11-25T18:41:26.123Z INFO  [worker-3] request_id=8f14e45f-ceea-467f method=POST path=/api/v2/orders/12345 status=201 duration=12.3ms user=user17@example.com next="https://api.example.com/"` + "\n"
	line = (line + strings.Repeat("x", 200))[:199] + "\n"
	masked := line[:60] + strings.TrimSpace(secrets[0]) + line[60+len(strings.TrimSpace(secrets[0])):]
	b.Run("clean/String", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			_ = s.String(line)
		}
	})
	b.Run("secret/String", func(b *testing.B) {
		b.SetBytes(int64(len(masked)))
		b.ReportAllocs()
		for b.Loop() {
			_ = s.String(masked)
		}
	})
	// Writer.Write of one line at a time: 0 allocations in steady state.
	for _, tc := range []struct{ name, line string }{{"clean/Write", line}, {"secret/Write", masked}} {
		b.Run(tc.name, func(b *testing.B) {
			w := s.NewWriter(io.Discard)
			p := []byte(tc.line)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				w.Write(p)
			}
		})
	}
}

// BenchmarkAdd1000 registers 1,000 secrets with all their forms, one Add
// at a time (as a run loading its vault does).
func BenchmarkAdd1000(b *testing.B) {
	secrets := benchSecrets(1000)
	b.ReportAllocs()
	for b.Loop() {
		s := New()
		for _, sec := range secrets {
			s.Add(sec)
		}
	}
}

// BenchmarkAddAll1000 registers the same 1,000 secrets in one AddAll, as a
// run registers the secrets its blueprint can see.
func BenchmarkAddAll1000(b *testing.B) {
	secrets := benchSecrets(1000)
	b.ReportAllocs()
	for b.Loop() {
		New().AddAll(secrets)
	}
}

// BenchmarkInclude1000 is what a long-lived process pays per run for the
// secrets it has registered once: a Scrubber that includes them, then the
// engine's Add of each of them again.
func BenchmarkInclude1000(b *testing.B) {
	secrets := benchSecrets(1000)
	base := New()
	base.AddAll(secrets)
	b.ReportAllocs()
	for b.Loop() {
		s := New()
		s.Include(base)
		for _, sec := range secrets {
			s.Add(sec)
		}
	}
}

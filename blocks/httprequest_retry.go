package blocks

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bprun/bp/engine"
)

// retryPolicy says when and how often to try again.
type retryPolicy struct {
	attempts   int // in all, the first included
	backoff    time.Duration
	maxBackoff time.Duration
	unsafe     bool            // retry any method
	methods    map[string]bool // nil: the idempotent ones
}

var idempotentMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodOptions: true,
	http.MethodPut: true, http.MethodDelete: true, http.MethodTrace: true,
}

// allows reports whether the attempt may be retried.
func (p *retryPolicy) allows(method string, at *httpAttempt) bool {
	methods := idempotentMethods
	if p.methods != nil {
		methods = p.methods
	}
	if !p.unsafe && !methods[method] {
		return false
	}
	if at.err != nil {
		return at.retryable
	}
	return at.status == http.StatusTooManyRequests || at.status >= 500 && at.status <= 599
}

// wait is the pause before the next attempt: exponential backoff with
// jitter, or the server's Retry-After on 429 and 503. ok is false when
// Retry-After asks for more than limit.
func (p *retryPolicy) wait(attempt int, at *httpAttempt, limit time.Duration) (time.Duration, bool) {
	d := p.backoff
	for i := 1; i < attempt && d < p.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.maxBackoff)
	if d > 0 {
		d = d/2 + rand.N(d/2+1) // "equal jitter": between d/2 and d
	}
	if at.err == nil && (at.status == http.StatusTooManyRequests || at.status == http.StatusServiceUnavailable) {
		if ra, ok := retryAfter(at.header.Get("Retry-After")); ok {
			if ra > max(limit, p.maxBackoff) {
				return 0, false
			}
			d = max(d, ra)
		}
	}
	return d, true
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// readRetry reads the retry field: {attempts, backoff, maxBackoff,
// unsafe, methods}, or just a number of attempts.
func readRetry(c *engine.Call) (retryPolicy, error) {
	v, err := c.JSON("retry")
	if err != nil {
		return retryPolicy{}, err
	}
	p, err := parseRetry(v)
	if err != nil {
		return p, &engine.FieldError{Field: "retry", Err: err}
	}
	return p, nil
}

// checkRetry is the retry field's FieldSpec.Check.
func checkRetry(v any) error { _, err := parseRetry(v); return err }

// parseRetry reads the retry field's value (nil: no retries).
func parseRetry(v any) (retryPolicy, error) {
	p := retryPolicy{attempts: 1, backoff: DefaultRetryBackoff, maxBackoff: DefaultRetryMaxBackoff}
	if v == nil {
		return p, nil
	}
	fail := func(format string, args ...any) (retryPolicy, error) {
		return p, fmt.Errorf(format, args...)
	}
	var m map[string]any
	switch t := v.(type) {
	case map[string]any:
		m = t
	default:
		m = map[string]any{"attempts": t}
	}
	p.attempts = defaultRetryAttemptsWhenSet
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x := m[k]
		switch k {
		case "attempts":
			n, err := engine.ParseInt(x)
			if err != nil || n < 1 || n > 100 {
				return fail("attempts: %v is not a number from 1 to 100", x)
			}
			p.attempts = n
		case "backoff", "maxBackoff":
			d, err := engine.ParseDuration(x)
			if err != nil || d < 0 {
				return fail("%s: %v is not a duration (write 200ms, 2s or a number of seconds)", k, x)
			}
			if k == "backoff" {
				p.backoff = d
			} else {
				p.maxBackoff = d
			}
		case "unsafe":
			b, err := engine.ParseBool(x)
			if err != nil {
				return fail("unsafe: %v", err)
			}
			p.unsafe = b
		case "methods":
			list, ok := x.([]any)
			if !ok {
				return fail("methods: not a list of HTTP methods")
			}
			p.methods = map[string]bool{}
			for _, e := range list {
				s, ok := e.(string)
				if !ok {
					return fail("methods: %v is not an HTTP method", e)
				}
				p.methods[strings.ToUpper(strings.TrimSpace(s))] = true
			}
		default:
			return fail("unknown key %q (keys: attempts, backoff, maxBackoff, unsafe, methods)", k)
		}
	}
	return p, nil
}

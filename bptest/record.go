package bptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/scrub"
)

// recordedExchange is one request and its response (or error) as they
// went over the wire.
type recordedExchange struct {
	method    string
	url       string
	reqHeader http.Header
	reqBody   []byte

	status     int
	respHeader http.Header
	respBody   []byte
	err        string
	tooLarge   bool
}

// recorder is the HTTP transport of a recording: the real one, with every
// exchange kept.
type recordingTransport struct {
	base http.RoundTripper

	mu        sync.Mutex
	exchanges []*recordedExchange
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	x := &recordedExchange{method: req.Method, url: req.URL.String(), reqHeader: req.Header.Clone()}
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxCaseBytes+1))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		x.reqBody = b
		x.tooLarge = len(b) > maxCaseBytes
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	t.mu.Lock()
	t.exchanges = append(t.exchanges, x)
	t.mu.Unlock()

	resp, err := t.base.RoundTrip(req)
	if err != nil {
		x.err = err.Error()
		return nil, err
	}
	// Read whole, so that the case holds what the block got; the block's
	// own limit (maxResponseBytes) then applies to this copy.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCaseBytes+1))
	resp.Body.Close()
	if err != nil {
		x.err = err.Error()
		return nil, err
	}
	x.status, x.respHeader, x.respBody = resp.StatusCode, resp.Header.Clone(), body
	x.tooLarge = x.tooLarge || len(body) > maxCaseBytes
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// CloseIdleConnections closes the real transport's.
func (t *recordingTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// record runs one case against the live endpoints and rewrites its
// http: section; the case is then replayed by the caller.
func (s *suite) record(ctx context.Context, c *testCase, sink engine.Sink) error {
	spec, err := parseCase(c.casePath())
	if err != nil {
		return err
	}
	// The values the live run sends: the live vault's, else the case's.
	live := map[string]string{}
	for name, fake := range spec.vault {
		live[name] = fake
		if s.opts.LiveSecrets != nil {
			v, err := s.opts.LiveSecrets.Secret(ctx, name)
			switch {
			case err == nil:
				live[name] = v
			case !errors.Is(err, engine.ErrSecretNotFound):
				return fmt.Errorf("%s: reading secret %s: %w", c.casePath(), name, err)
			}
		}
	}
	known := scrub.New()
	for _, v := range live {
		known.Add(v)
	}
	clean := func(err error) error { return known.Error(err) }

	set, err := s.set(c.root)
	if err != nil {
		return clean(err)
	}
	key, err := spec.blueprintKey(c)
	if err != nil {
		return clean(err)
	}
	wire := &recordingTransport{}
	reg := blocks.NewRegistry()
	blocks.Core(reg)
	httpType := blocks.NewHTTPRequest(blocks.HTTPOptions{WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
		wire.base = rt
		return wire
	}})
	defer httpType.Close()
	reg.Register(httpType)
	reg.Register(s.code)
	for _, t := range s.opts.Types {
		reg.Register(t)
	}
	r := runner.New(runner.Options{
		Library: runner.NewLibrary(set, reg),
		Secrets: runner.StaticSecrets(live),
		Timeout: spec.timeout,
		LookupEnv: func(name string) (string, bool) {
			v, ok := spec.env[name]
			return v, ok
		},
	})
	var mu sync.Mutex
	var masked []string
	onSecret := func(v string) {
		mu.Lock()
		defer mu.Unlock()
		masked = append(masked, v)
	}
	var sinks []engine.Sink
	if sink != nil {
		sinks = append(sinks, sink)
	}
	runScrub := scrub.New()
	if _, err := r.Run(ctx, runner.Request{
		Blueprint: key, Payload: spec.payload, Context: spec.context, State: spec.state, Trigger: spec.trigger,
		Sinks: sinks, Scrubber: runScrub, OnSecret: onSecret,
	}); err != nil {
		return clean(err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Values blocks masked that are neither the vault's nor the case's
	// environment (written in case.yaml already) become placeholders.
	tm := newTemplater(live)
	isKnown := map[string]bool{}
	for _, v := range live {
		isKnown[v] = true
	}
	for _, v := range spec.env {
		isKnown[v] = true
	}
	mu.Lock()
	for _, v := range masked {
		if !isKnown[v] {
			isKnown[v] = true
			tm.addMasked(v)
		}
	}
	mu.Unlock()

	wire.mu.Lock()
	exchanges := wire.exchanges
	wire.mu.Unlock()
	for _, x := range exchanges {
		if x.tooLarge {
			return clean(fmt.Errorf("%s: %s %s: a body larger than %d bytes is not recorded in a case", c.casePath(), x.method, x.url, maxCaseBytes))
		}
	}
	section, err := renderExchanges(exchanges, tm)
	if err != nil {
		return clean(fmt.Errorf("%s: %w", c.casePath(), err))
	}
	if names := tm.leaks(section); len(names) > 0 {
		return fmt.Errorf("%s not written: the recorded exchanges hold %s in a form bptest cannot write as a template", c.casePath(), strings.Join(names, ", "))
	}
	return replaceHTTPSection(c.casePath(), section)
}

// blueprintKey is the key of the blueprint a case runs.
func (spec *caseSpec) blueprintKey(c *testCase) (string, error) {
	if spec.blueprint != "" {
		return spec.blueprint, nil
	}
	bps, err := blueprints.LoadFile(c.blueprint)
	if err != nil {
		return "", err
	}
	if len(bps) != 1 {
		return "", fmt.Errorf("%s holds %d blueprints: name one with blueprint: in %s", c.blueprint, len(bps), c.casePath())
	}
	return bps[0].Key, nil
}

// volatileHeaders are response headers that change from call to call or
// carry what a case has no use for (a session cookie is a credential the
// run does not know as one): a recording leaves them out.
var volatileHeaders = map[string]bool{
	"Date": true, "Age": true, "Expires": true, "Set-Cookie": true, "Content-Length": true,
	"Transfer-Encoding": true, "Connection": true, "Keep-Alive": true, "Alt-Svc": true, "Via": true,
	"Server-Timing": true, "Report-To": true, "Nel": true, "Traceparent": true, "Tracestate": true,
	"X-Request-Id": true, "X-Correlation-Id": true, "Request-Id": true, "X-Amzn-Requestid": true,
	"X-Amzn-Trace-Id": true, "X-Amz-Request-Id": true, "X-Amz-Id-2": true, "Cf-Ray": true,
	"X-Cloud-Trace-Context": true, "X-Runtime": true, "X-Github-Request-Id": true,
}

// unrecordedRequestHeaders are set by the client, not the block: no
// matcher needs them.
var unrecordedRequestHeaders = map[string]bool{
	"User-Agent": true, "Content-Length": true, "Accept-Encoding": true, "Connection": true,
}

func sortedKeys(h http.Header, skip map[string]bool) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		if !skip[http.CanonicalHeaderKey(k)] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

package blocks

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/bprun/bp/engine"
)

// HTTP request defaults.
const (
	DefaultHTTPTimeout          = 30 * time.Second
	DefaultMaxResponseBytes     = 10 << 20
	DefaultMaxRedirects         = 10
	DefaultRetryBackoff         = 200 * time.Millisecond
	DefaultRetryMaxBackoff      = 30 * time.Second
	DefaultMaxIdleConnsPerHost  = 256
	defaultRetryAttemptsWhenSet = 3
)

// HTTPOptions configure the httprequest block type of one engine.
type HTTPOptions struct {
	// Transport replaces the transport built by default. When it is an
	// *http.Transport, blocks with insecureSkipVerify use a clone of it
	// that skips TLS verification; any other RoundTripper makes
	// insecureSkipVerify an error.
	Transport http.RoundTripper
	// RootCAs are the certificate authorities the default transport
	// trusts; nil means the system's.
	RootCAs *x509.CertPool
	// MaxIdleConnsPerHost of the default transport; zero means
	// DefaultMaxIdleConnsPerHost, enough for a fan-out of 100 blocks to
	// one host to reuse its connections.
	MaxIdleConnsPerHost int
	// MaxResponseBytes is the limit for blocks without the
	// maxResponseBytes field; zero means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// MaxRetryWait is the longest Retry-After a block waits for (a block
	// whose retry.maxBackoff is longer waits up to that); a server that
	// asks for more gets no retry. Zero means DefaultRetryMaxBackoff.
	MaxRetryWait time.Duration
	// UserAgent is sent unless a block sets its own; default "bp".
	UserAgent string
}

// HTTPRequest is the httprequest block type. It holds one resty client
// (one connection pool) shared by every block and run of the engine, and
// builds a second one, lazily, for blocks with insecureSkipVerify (TLS
// settings belong to a transport). Redirect limits travel in each
// request's context to the shared CheckRedirect. Close releases idle
// connections.
//
// Outcomes: success for a 2xx response; responseError for any other
// status (a 3xx too when followRedirects is false), with the response as
// result and "HTTP 404 Not Found" as message; connectionError when no
// usable response came: refused, DNS, TLS, timeout, too many redirects,
// or a body larger than maxResponseBytes (read through a LimitReader, so
// never held whole); error when the fields do not make a request (bad
// URL, method, headers or JSON body, a missing template path).
//
// Retries (retry field, off by default): attempts counts every try, the
// first included; waits grow from backoff, doubling up to maxBackoff,
// with jitter (half to all of the step); only connection errors (not
// TLS verification, size or redirect limits), 429 and 5xx are retried,
// and only for GET, HEAD, OPTIONS, PUT, DELETE and TRACE unless
// retry.unsafe is true or retry.methods lists the method. Retry-After
// on 429 and 503 is honoured up to MaxRetryWait. The block's timeout
// bounds all attempts together; no retry starts, nor waits, past it.
type HTTPRequest struct {
	opts   HTTPOptions
	client *resty.Client

	insecureOnce sync.Once
	insecure     *resty.Client
	insecureErr  error
}

var httpRequestSpec = &engine.TypeSpec{
	Name: "httprequest",
	Doc:  "Sends an HTTP request.",
	Fields: []engine.FieldSpec{
		{Name: "method", Kind: engine.FieldText, Doc: "GET (default), POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ..."},
		{Name: "url", Kind: engine.FieldText, Required: true, Doc: "absolute http or https URL"},
		{Name: "headers", Kind: engine.FieldJSON, Doc: "JSON object of header names to values (a list sends the header once per value)"},
		{Name: "bodyType", Kind: engine.FieldText, Doc: "text (default) or JSON"},
		{Name: "body", Kind: engine.FieldText, Doc: "the body; with bodyType JSON, JSON text or a structured value, sent as application/json"},
		{Name: "timeout", Kind: engine.FieldText, Doc: "extension: bound on the whole block, retries included (default 30s)"},
		{Name: "retry", Kind: engine.FieldJSON, Doc: "extension: {attempts, backoff, maxBackoff, unsafe, methods}; retries connection errors, 429 and 5xx of idempotent methods"},
		{Name: "maxResponseBytes", Kind: engine.FieldText, Doc: "extension: larger response bodies are a connectionError (default 10MiB; 1KiB, 5MB or a number of bytes)"},
		{Name: "insecureSkipVerify", Kind: engine.FieldText, Doc: "extension: do not verify the server's TLS certificate (default false)"},
		{Name: "followRedirects", Kind: engine.FieldText, Doc: "extension: true (default, at most 10), false, or the most redirects to follow"},
		{Name: "mask", Kind: engine.FieldText, Doc: "extension: paths into the result (body.access_token, headers.X-Token) whose values become secrets of the run"},
	},
	Outcomes:       []string{"success", "responseError", "connectionError", "error"},
	ErrorOutcomes:  []string{"responseError", "connectionError", "error"},
	DefaultTimeout: DefaultHTTPTimeout,
}

// NewHTTPRequest builds the httprequest block type and its client.
func NewHTTPRequest(opts HTTPOptions) *HTTPRequest {
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.MaxRetryWait <= 0 {
		opts.MaxRetryWait = DefaultRetryMaxBackoff
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "bp"
	}
	if opts.Transport == nil {
		opts.Transport = newHTTPTransport(opts)
	}
	return &HTTPRequest{opts: opts, client: newRestyClient(opts.Transport, opts.UserAgent)}
}

func newHTTPTransport(opts HTTPOptions) *http.Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * opts.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   opts.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
	}
}

// newRestyClient wraps a transport. The redirect policy is read from
// each request's context, so one client serves every block.
func newRestyClient(rt http.RoundTripper, userAgent string) *resty.Client {
	hc := &http.Client{Transport: rt, CheckRedirect: checkRedirect}
	return resty.NewWithClient(hc).
		SetLogger(discardLogger{}).
		SetDisableWarn(true).
		SetAllowGetMethodPayload(true).
		SetDoNotParseResponse(true).
		SetHeader("User-Agent", userAgent)
}

// insecureClient is the client for blocks with insecureSkipVerify.
func (h *HTTPRequest) insecureClient() (*resty.Client, error) {
	h.insecureOnce.Do(func() {
		base, ok := h.opts.Transport.(*http.Transport)
		if !ok {
			h.insecureErr = errors.New("insecureSkipVerify needs an *http.Transport, and this engine has another transport")
			return
		}
		tr := base.Clone()
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.InsecureSkipVerify = true
		h.insecure = newRestyClient(tr, h.opts.UserAgent)
	})
	return h.insecure, h.insecureErr
}

// Close closes the idle connections of the type's clients.
func (h *HTTPRequest) Close() error {
	h.client.GetClient().CloseIdleConnections()
	h.insecureOnce.Do(func() { h.insecureErr = errors.New("the httprequest block type is closed") })
	if h.insecure != nil {
		h.insecure.GetClient().CloseIdleConnections()
	}
	return nil
}

func (h *HTTPRequest) Spec() *engine.TypeSpec { return httpRequestSpec }

// httpRequest is a request as the block's fields describe it.
type httpRequest struct {
	method    string
	url       string
	header    http.Header
	body      []byte // nil: no body
	bodyValue any    // the body in the result
}

// httpSettings are the block's extension fields.
type httpSettings struct {
	maxBytes     int64
	maxRedirects int
	insecure     bool
	retry        retryPolicy
	mask         []string
}

// httpAttempt is what one attempt got.
type httpAttempt struct {
	status     int
	statusText string // "404 Not Found"
	header     http.Header
	body       []byte
	sent       http.Header // the headers as sent, when known
	err        error       // the request got no usable response
	retryable  bool        // err is worth another attempt
}

func (h *HTTPRequest) Run(ctx context.Context, c *engine.Call) engine.Result {
	req, err := readHTTPRequest(c)
	if err != nil {
		return engine.Failure(err)
	}
	set, err := h.readSettings(c)
	if err != nil {
		return engine.Failure(err)
	}
	client := h.client
	if set.insecure {
		if client, err = h.insecureClient(); err != nil {
			return engine.Failure(err)
		}
	}
	ctx = context.WithValue(ctx, redirectKey{}, set.maxRedirects)

	var at *httpAttempt
	for attempt := 1; ; attempt++ {
		at = h.do(ctx, client, req, set.maxBytes)
		if attempt >= set.retry.attempts || ctx.Err() != nil || !set.retry.allows(req.method, at) {
			break
		}
		wait, ok := set.retry.wait(attempt, at, h.opts.MaxRetryWait)
		if !ok {
			break // the server asks for a longer wait than allowed
		}
		if deadline, has := ctx.Deadline(); has && time.Until(deadline) < wait {
			break // the block would time out while waiting
		}
		c.Output("log", fmt.Sprintf("attempt %d of %d: %s; retrying in %s", attempt, set.retry.attempts, at.summary(), wait.Round(time.Millisecond)))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			break
		}
	}

	sentHeader := req.header
	if at.sent != nil {
		sentHeader = at.sent
	}
	request := map[string]any{"url": req.url, "method": req.method, "headers": headerMap(sentHeader), "body": req.bodyValue}
	if at.err != nil {
		value := map[string]any{"request": request, "error": at.err.Error()}
		if at.status != 0 {
			value["status_code"] = at.status
			value["headers"] = headerMap(at.header)
		}
		return engine.Result{Outcome: "connectionError", Value: value, Err: at.err}
	}
	value := map[string]any{
		"request":     request,
		"status_code": at.status,
		"headers":     headerMap(at.header),
		"body":        responseBody(c, at),
	}
	maskPaths(c, value, set.mask)
	if at.status < 200 || at.status > 299 {
		return engine.Result{Outcome: "responseError", Value: value, Err: fmt.Errorf("HTTP %s", at.statusText)}
	}
	return engine.Success(value)
}

// do sends the request once.
func (h *HTTPRequest) do(ctx context.Context, client *resty.Client, req *httpRequest, maxBytes int64) *httpAttempt {
	r := client.R().SetContext(ctx)
	r.Header = req.header.Clone()
	if req.body != nil {
		r.SetBody(req.body)
	}
	resp, err := r.Execute(req.method, req.url)
	at := &httpAttempt{}
	if resp != nil && resp.Request != nil && resp.Request.RawRequest != nil {
		at.sent = resp.Request.RawRequest.Header
	}
	if err != nil {
		at.err, at.retryable = connectionError(ctx, err)
		return at
	}
	raw := resp.RawResponse
	defer raw.Body.Close()
	at.status, at.statusText, at.header = raw.StatusCode, raw.Status, raw.Header
	if at.statusText == "" {
		at.statusText = strconv.Itoa(raw.StatusCode)
	}
	if raw.ContentLength > maxBytes {
		at.err = tooLarge(maxBytes)
		return at
	}
	var body io.Reader = raw.Body
	if strings.EqualFold(raw.Header.Get("Content-Encoding"), "gzip") && !raw.Uncompressed && raw.ContentLength != 0 {
		// The block asked for gzip itself: inflate, within the limit.
		zr, err := gzip.NewReader(raw.Body)
		if err != nil {
			at.err, at.retryable = connectionError(ctx, fmt.Errorf("reading the gzip response: %w", err))
			return at
		}
		defer zr.Close()
		body = zr
	}
	data, err := io.ReadAll(io.LimitReader(body, maxBytes+1))
	if err != nil {
		at.err, at.retryable = connectionError(ctx, fmt.Errorf("reading the response: %w", err))
		return at
	}
	if int64(len(data)) > maxBytes {
		at.err = tooLarge(maxBytes)
		return at
	}
	at.body = data
	return at
}

func tooLarge(maxBytes int64) error {
	return fmt.Errorf("response body is larger than maxResponseBytes (%d bytes)", maxBytes)
}

// summary is an attempt's outcome in a log line.
func (at *httpAttempt) summary() string {
	if at.err != nil {
		return at.err.Error()
	}
	return "HTTP " + at.statusText
}

// connectionError turns a client error into the block's error, without
// the URL that *url.Error repeats (it is in the result), and says
// whether another attempt could help.
func connectionError(ctx context.Context, err error) (error, bool) {
	if ctx.Err() != nil {
		return fmt.Errorf("no response: %w", context.Cause(ctx)), false
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var rl *redirectLimitError
	if errors.As(err, &rl) {
		return err, false
	}
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return fmt.Errorf("TLS: %w (insecureSkipVerify: true turns verification off)", err), false
	}
	return fmt.Errorf("connection failed: %w", err), true
}

// readHTTPRequest evaluates the fields that make the request.
func readHTTPRequest(c *engine.Call) (*httpRequest, error) {
	method, err := c.String("method")
	if err != nil {
		return nil, err
	}
	method = strings.ToUpper(strings.TrimSpace(method))
	if method == "" {
		method = http.MethodGet
	}
	if !validMethod(method) {
		return nil, &engine.FieldError{Field: "method", Err: errors.New("not an HTTP method")}
	}
	rawURL, err := c.String("url")
	if err != nil {
		return nil, err
	}
	rawURL = strings.TrimSpace(rawURL)
	// The URL may hold a secret: errors describe it without quoting it.
	if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &engine.FieldError{Field: "url", Err: errors.New("not an absolute http or https URL")}
	}
	header, err := readHeaders(c)
	if err != nil {
		return nil, err
	}
	req := &httpRequest{method: method, url: rawURL, header: header}
	if err := readBody(c, req); err != nil {
		return nil, err
	}
	return req, nil
}

// validMethod reports whether m is an upper-case HTTP token.
func validMethod(m string) bool { return isToken(m) && strings.ToUpper(m) == m }

// isToken reports whether s is an HTTP token (RFC 9110), as methods
// and header names are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)
		if !ok {
			return false
		}
	}
	return true
}

// readHeaders reads the headers field: a JSON object of names to
// values; a list value sends the header once per item.
func readHeaders(c *engine.Call) (http.Header, error) {
	header := http.Header{}
	v, err := c.JSON("headers")
	if err != nil || v == nil {
		return header, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &engine.FieldError{Field: "headers", Err: errors.New("not a JSON object of header names to values")}
	}
	for name, val := range m {
		name = strings.TrimSpace(name)
		if !isToken(name) {
			return nil, &engine.FieldError{Field: "headers", Err: fmt.Errorf("%q is not a header name", name)}
		}
		switch t := val.(type) {
		case nil:
		case []any:
			for _, x := range t {
				s, err := headerValue(name, x)
				if err != nil {
					return nil, err
				}
				header.Add(name, s)
			}
		default:
			s, err := headerValue(name, t)
			if err != nil {
				return nil, err
			}
			header.Set(name, s)
		}
	}
	return header, nil
}

func headerValue(name string, v any) (string, error) {
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case bool, int, int64, uint64, float64, json.Number:
		s = fmt.Sprint(t)
		if f, ok := t.(float64); ok {
			s = strconv.FormatFloat(f, 'f', -1, 64)
		}
	default:
		return "", &engine.FieldError{Field: "headers", Err: fmt.Errorf("header %s: value is not text", name)}
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return "", &engine.FieldError{Field: "headers", Err: fmt.Errorf("header %s: value contains a line break", name)}
	}
	return s, nil
}

// readBody reads bodyType and body. With bodyType JSON, a structured
// value is encoded, and text must parse as JSON and is sent as written.
func readBody(c *engine.Call, req *httpRequest) error {
	bodyType, err := c.String("bodyType")
	if err != nil {
		return err
	}
	isJSON := false
	switch strings.ToLower(strings.TrimSpace(bodyType)) {
	case "", "text":
	case "json":
		isJSON = true
	default:
		return &engine.FieldError{Field: "bodyType", Err: fmt.Errorf("%q is neither text nor JSON", bodyType)}
	}
	// JSON text gets its inserted values JSON-escaped, so a value with
	// quotes in it keeps the body valid.
	var v any
	if isJSON {
		v, err = c.JSONText("body")
	} else {
		v, err = c.Field("body")
	}
	if err != nil || v == nil {
		return err
	}
	s, isText := v.(string)
	switch {
	case isJSON && isText:
		if strings.TrimSpace(s) == "" {
			return nil
		}
		parsed, err := engine.DecodeJSON([]byte(s))
		if err != nil {
			return &engine.FieldError{Field: "body", Err: fmt.Errorf("bodyType is JSON, and the body is not valid JSON: %v", err)}
		}
		req.body, req.bodyValue = []byte(s), parsed
	case isText:
		req.body, req.bodyValue = []byte(s), s
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return &engine.FieldError{Field: "body", Err: fmt.Errorf("cannot encode the body as JSON: %v", err)}
		}
		req.body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		req.bodyValue = v
		isJSON = true
	}
	if req.header.Get("Content-Type") == "" {
		if isJSON {
			req.header.Set("Content-Type", "application/json")
		} else {
			req.header.Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	return nil
}

// readSettings evaluates the extension fields.
func (h *HTTPRequest) readSettings(c *engine.Call) (*httpSettings, error) {
	set := &httpSettings{maxBytes: h.opts.MaxResponseBytes, maxRedirects: DefaultMaxRedirects}
	if c.Has("maxResponseBytes") {
		v, err := c.Field("maxResponseBytes")
		if err != nil {
			return nil, err
		}
		if v != nil && v != "" {
			n, err := parseSize(v)
			if err != nil {
				return nil, &engine.FieldError{Field: "maxResponseBytes", Err: err}
			}
			set.maxBytes = n
		}
	}
	var err error
	if set.insecure, err = c.Bool("insecureSkipVerify", false); err != nil {
		return nil, err
	}
	if set.maxRedirects, err = readRedirects(c); err != nil {
		return nil, err
	}
	if set.retry, err = readRetry(c); err != nil {
		return nil, err
	}
	if set.mask, err = readMask(c); err != nil {
		return nil, err
	}
	return set, nil
}

// parseSize reads a byte count: a number, or 512B, 1KiB, 10MiB, 5MB, 1GiB.
func parseSize(v any) (int64, error) {
	bad := fmt.Errorf("%v is not a size (write 1048576, 512KiB, 10MiB or 5MB)", v)
	switch t := v.(type) {
	case int:
		v = float64(t)
	case int64:
		v = float64(t)
	case uint64:
		v = float64(t)
	}
	if f, ok := v.(float64); ok {
		if f < 1 || f > 1<<50 {
			return 0, bad
		}
		return int64(f), nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, bad
	}
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1e3, "kb": 1e3, "kib": 1 << 10,
		"m": 1e6, "mb": 1e6, "mib": 1 << 20,
		"g": 1e9, "gb": 1e9, "gib": 1 << 30,
	}[unit]
	if mult == 0 {
		return 0, bad
	}
	return parseSize(f * mult)
}

// redirectKey carries the most redirects a request may follow (0: none)
// in its context, to the shared client's CheckRedirect.
type redirectKey struct{}

type redirectLimitError struct{ max int }

func (e *redirectLimitError) Error() string {
	return fmt.Sprintf("stopped after %d redirects (followRedirects)", e.max)
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	limit := DefaultMaxRedirects
	if v, ok := req.Context().Value(redirectKey{}).(int); ok {
		limit = v
	}
	if limit == 0 {
		return http.ErrUseLastResponse
	}
	if len(via) > limit {
		return &redirectLimitError{max: limit}
	}
	return nil
}

func readRedirects(c *engine.Call) (int, error) {
	v, err := c.Field("followRedirects")
	if err != nil || v == nil || v == "" {
		return DefaultMaxRedirects, err
	}
	bad := &engine.FieldError{Field: "followRedirects", Err: fmt.Errorf("%v is not true, false or a number of redirects", v)}
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if b, err := strconv.ParseBool(s); err == nil {
			v = b
		} else if n, err := strconv.Atoi(s); err == nil {
			v = n
		}
	}
	switch t := v.(type) {
	case bool:
		if t {
			return DefaultMaxRedirects, nil
		}
		return 0, nil
	case int:
		if t >= 0 {
			return t, nil
		}
	case int64:
		if t >= 0 {
			return int(t), nil
		}
	case uint64:
		return int(t), nil
	case float64:
		if t >= 0 && t == float64(int(t)) {
			return int(t), nil
		}
	}
	return 0, bad
}

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
	p := retryPolicy{attempts: 1, backoff: DefaultRetryBackoff, maxBackoff: DefaultRetryMaxBackoff}
	v, err := c.JSON("retry")
	if err != nil || v == nil {
		return p, err
	}
	fail := func(format string, args ...any) (retryPolicy, error) {
		return p, &engine.FieldError{Field: "retry", Err: fmt.Errorf(format, args...)}
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
			n, ok := toInt(x)
			if !ok || n < 1 || n > 100 {
				return fail("attempts: %v is not a number from 1 to 100", x)
			}
			p.attempts = n
		case "backoff", "maxBackoff":
			d, ok := toDuration(x)
			if !ok || d < 0 {
				return fail("%s: %v is not a duration (write 200ms, 2s or a number of seconds)", k, x)
			}
			if k == "backoff" {
				p.backoff = d
			} else {
				p.maxBackoff = d
			}
		case "unsafe":
			b, ok := x.(bool)
			if s, isStr := x.(string); isStr {
				b, err = strconv.ParseBool(strings.TrimSpace(s))
				ok = err == nil
			}
			if !ok {
				return fail("unsafe: %v is not true or false", x)
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

func toInt(v any) (int, bool) {
	switch t := v.(type) {
	case int:
		return t, true
	case int64:
		return int(t), true
	case uint64:
		return int(t), true
	case float64:
		return int(t), t == float64(int(t))
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(t))
		return n, err == nil
	}
	return 0, false
}

func toDuration(v any) (time.Duration, bool) {
	switch t := v.(type) {
	case string:
		s := strings.TrimSpace(t)
		if d, err := time.ParseDuration(s); err == nil {
			return d, true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return time.Duration(f * float64(time.Second)), true
		}
	case float64:
		return time.Duration(t * float64(time.Second)), true
	default:
		if n, ok := toInt(v); ok {
			return time.Duration(n) * time.Second, true
		}
	}
	return 0, false
}

// readMask reads the mask field: a list of paths, JSON list text, or
// paths separated by commas.
func readMask(c *engine.Call) ([]string, error) {
	v, err := c.Field("mask")
	if err != nil || v == nil {
		return nil, err
	}
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "[") {
			if v, err = engine.DecodeJSON([]byte(s)); err != nil {
				return nil, &engine.FieldError{Field: "mask", Err: fmt.Errorf("not a JSON list of paths: %v", err)}
			}
		} else {
			var out []string
			for _, p := range strings.Split(s, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			return out, nil
		}
	}
	list, ok := v.([]any)
	if !ok {
		return nil, &engine.FieldError{Field: "mask", Err: errors.New("not a list of paths")}
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, &engine.FieldError{Field: "mask", Err: fmt.Errorf("%v is not a path", x)}
		}
		out = append(out, strings.TrimSpace(s))
	}
	return out, nil
}

// maskPaths registers the values at the mask paths as secrets of the
// run, before the result that holds them is emitted. A path that finds
// nothing is a warning.
func maskPaths(c *engine.Call, value map[string]any, paths []string) {
	for _, p := range paths {
		v, ok := lookupPath(value, p)
		if !ok {
			c.Warn(fmt.Sprintf("mask: nothing at %s in the result", p))
			continue
		}
		switch t := v.(type) {
		case string:
			c.Mask(t)
		case float64:
			c.Mask(strconv.FormatFloat(t, 'f', -1, 64))
		case nil:
			c.Warn(fmt.Sprintf("mask: %s is null", p))
		case bool:
			c.Warn(fmt.Sprintf("mask: %s is a boolean, not masked", p))
		default:
			// An object or a list: mask every string in it.
			walkStrings(t, c.Mask)
		}
	}
}

func walkStrings(v any, f func(string)) {
	switch t := v.(type) {
	case string:
		f(t)
	case map[string]any:
		for _, x := range t {
			walkStrings(x, f)
		}
	case []any:
		for _, x := range t {
			walkStrings(x, f)
		}
	}
}

// lookupPath follows a dotted path (\. for a literal dot). Keys match
// exactly, else regardless of case (header names); list items by index.
func lookupPath(v any, path string) (any, bool) {
	path = strings.TrimSpace(path)
	if path == "" {
		return nil, false
	}
	for _, key := range splitPath(path) {
		switch t := v.(type) {
		case map[string]any:
			x, ok := t[key]
			if !ok {
				for k, y := range t {
					if strings.EqualFold(k, key) {
						x, ok = y, true
						break
					}
				}
			}
			if !ok {
				return nil, false
			}
			v = x
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func splitPath(path string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		switch {
		case path[i] == '\\' && i+1 < len(path) && path[i+1] == '.':
			b.WriteByte('.')
			i++
		case path[i] == '.':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(path[i])
		}
	}
	return append(out, b.String())
}

// headerMap is headers as a result shows them: one string per name,
// repeated headers joined with ", ".
func headerMap(h http.Header) map[string]any {
	out := make(map[string]any, len(h))
	for k, vs := range h {
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

// responseBody is the body as the result shows it: parsed when the
// response says it is JSON, else text.
func responseBody(c *engine.Call, at *httpAttempt) any {
	if len(at.body) == 0 {
		return ""
	}
	mt, _, _ := mime.ParseMediaType(at.header.Get("Content-Type"))
	if mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json") {
		v, err := engine.DecodeJSON(at.body)
		if err == nil {
			return v
		}
		c.Warn(fmt.Sprintf("the response says %s, and its body is not valid JSON (%v): kept as text", mt, err))
	}
	return string(at.body)
}

// discardLogger keeps resty quiet: a block writes only to its run's
// events.
type discardLogger struct{}

func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Debugf(string, ...any) {}

package blocks

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
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
	// WrapTransport, when set, wraps the transport of every request (the
	// default one and the insecureSkipVerify one alike), under the
	// redirects and retries: bp test --record sees each exchange on the
	// wire with it.
	WrapTransport func(http.RoundTripper) http.RoundTripper
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
		{Name: "method", Kind: engine.FieldText, Type: engine.TypeString, Doc: "GET (default), POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ...", Enum: []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}, EnumOpen: true, Check: checkMethod},
		{Name: "url", Kind: engine.FieldText, Type: engine.TypeScalar, Required: true, Doc: "absolute http or https URL"},
		{Name: "headers", Kind: engine.FieldJSON, Type: engine.TypeObject, Doc: "JSON object of header names to values (a list sends the header once per value)"},
		{Name: "bodyType", Kind: engine.FieldText, Type: engine.TypeString, Doc: "text (default) or JSON", Enum: []string{"text", "JSON", "json"}, Check: checkTextOrJSON},
		{Name: "body", Kind: engine.FieldText, Type: engine.TypeAny, Doc: "the body; with bodyType JSON, JSON text or a structured value, sent as application/json"},
		{Name: "timeout", Kind: engine.FieldText, Type: engine.TypeString | engine.TypeNumber, Doc: "extension: bound on the whole block, retries included (default 30s)", Check: engine.CheckDuration},
		{Name: "retry", Kind: engine.FieldJSON, Type: engine.TypeObject | engine.TypeNumber, Doc: "extension: {attempts, backoff, maxBackoff, unsafe, methods}, or a number of attempts; retries connection errors, 429 and 5xx of idempotent methods", Check: checkRetry},
		{Name: "maxResponseBytes", Kind: engine.FieldText, Type: engine.TypeString | engine.TypeNumber, Doc: "extension: larger response bodies are a connectionError (default 10MiB; 1KiB, 5MB or a number of bytes)", Check: checkSize},
		{Name: "insecureSkipVerify", Kind: engine.FieldText, Type: engine.TypeBool | engine.TypeString, Doc: "extension: do not verify the server's TLS certificate (default false)", Check: engine.CheckBool},
		{Name: "followRedirects", Kind: engine.FieldText, Type: engine.TypeBool | engine.TypeNumber | engine.TypeString, Doc: "extension: true (default, at most 10), false, or the most redirects to follow", Check: checkRedirects},
		{Name: "mask", Kind: engine.FieldText, Type: engine.TypeString | engine.TypeList, Doc: "extension: paths into the result (body.access_token, headers.X-Token) whose values become secrets of the run"},
		{Name: "idempotencyKey", Kind: engine.FieldText, Type: engine.TypeBool | engine.TypeString, Doc: "extension: in a run that can be resumed (bp worker), send Idempotency-Key: <run>/<block>, the same on every attempt (default true; false sends none)", Check: engine.CheckBool},
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
	return &HTTPRequest{opts: opts, client: newRestyClient(opts.wrap(opts.Transport), opts.UserAgent)}
}

func (o HTTPOptions) wrap(rt http.RoundTripper) http.RoundTripper {
	if o.WrapTransport == nil {
		return rt
	}
	return o.WrapTransport(rt)
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
		h.insecure = newRestyClient(h.opts.wrap(tr), h.opts.UserAgent)
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

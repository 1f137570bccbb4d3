package blocks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bprun/bp/engine"
)

// parseMethod is an HTTP method in upper case; GET when empty.
func parseMethod(method string) (string, error) {
	method = strings.ToUpper(strings.TrimSpace(method))
	if method == "" {
		return http.MethodGet, nil
	}
	if !validMethod(method) {
		return "", fmt.Errorf("%q is not an HTTP method", method)
	}
	return method, nil
}

// Checks of constant field values at load (engine.FieldSpec.Check), with
// the words a run would use.
func checkMethod(v any) error { _, err := parseMethod(fmt.Sprint(v)); return err }
func checkSize(v any) error   { _, err := parseSize(v); return err }
func checkRedirects(v any) error {
	_, err := parseRedirects(v)
	return err
}

// readHTTPRequest evaluates the fields that make the request.
func readHTTPRequest(c *engine.Call) (*httpRequest, error) {
	method, err := c.String("method")
	if err != nil {
		return nil, err
	}
	if method, err = parseMethod(method); err != nil {
		return nil, &engine.FieldError{Field: "method", Err: err}
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
	if err := addIdempotencyKey(c, &header); err != nil {
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
	isJSON, err := parseTextOrJSON(bodyType)
	if err != nil {
		return &engine.FieldError{Field: "bodyType", Err: err}
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
	// Headers and bodies often hold secrets (@{vault.NAME}). Go's client
	// strips only Authorization and Cookie on a new host, and keeps even
	// those from https to http: what the block set goes to its own origin
	// only.
	first := via[0]
	if req.URL.Scheme != first.URL.Scheme || !strings.EqualFold(req.URL.Host, first.URL.Host) {
		if req.Response != nil && (req.Response.StatusCode == http.StatusTemporaryRedirect || req.Response.StatusCode == http.StatusPermanentRedirect) && first.ContentLength != 0 {
			return fmt.Errorf("refusing to send the request body to another origin (%s://%s) on a %d redirect", req.URL.Scheme, req.URL.Host, req.Response.StatusCode)
		}
		for name := range first.Header {
			if name != "User-Agent" {
				req.Header.Del(name)
			}
		}
	}
	return nil
}

func readRedirects(c *engine.Call) (int, error) {
	v, err := c.Field("followRedirects")
	if err != nil || v == nil || v == "" {
		return DefaultMaxRedirects, err
	}
	n, err := parseRedirects(v)
	if err != nil {
		return 0, &engine.FieldError{Field: "followRedirects", Err: err}
	}
	return n, nil
}

// parseRedirects is true (DefaultMaxRedirects), false (0) or a number.
func parseRedirects(v any) (int, error) {
	bad := fmt.Errorf("%v is not true, false or a number of redirects", v)
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

// addIdempotencyKey sends the block's idempotency key in a run that can be
// resumed, where the block may run again after its worker died, so that
// the API on the other side can tell a retry from a new request. The
// block's own Idempotency-Key header, or idempotencyKey: false, wins.
func addIdempotencyKey(c *engine.Call, header *http.Header) error {
	key := c.IdempotencyKey()
	if key == "" || header.Get("Idempotency-Key") != "" {
		return nil
	}
	on, err := c.Bool("idempotencyKey", true)
	if err != nil || !on {
		return err
	}
	if *header == nil {
		*header = http.Header{}
	}
	header.Set("Idempotency-Key", key)
	return nil
}
